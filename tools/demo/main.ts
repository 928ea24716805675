import { pathToFileURL } from 'node:url';
import { DEFAULT_DEMO_PORTS, DEMO_USERS, startDemoEnterprise, type DemoEnterprise } from './index.js';

/** `npx tsx tools/demo/main.ts`: runs the demo enterprise on the default ports until Ctrl-C. */

export function printDemoBanner(demo: DemoEnterprise, log: (line: string) => void = console.log): void {
  const pad = (s: string) => s.padEnd(10);
  log('Acme demo enterprise (demo-only credentials; never use them elsewhere)');
  log(`  ${pad('IdP')}${demo.urls.idp}   (issuer; sign-in page at /authorize)`);
  for (const [name, url] of Object.entries(demo.urls)) if (name !== 'idp') log(`  ${pad(name)}${url}`);
  log('Users:');
  for (const u of DEMO_USERS) log(`  ${pad(u.username)}password ${u.password.padEnd(18)}${u.email.padEnd(22)}${u.note}`);
}

async function main(): Promise<void> {
  const demo = await startDemoEnterprise({ ports: DEFAULT_DEMO_PORTS });
  printDemoBanner(demo);
  const shutdown = () => {
    void demo.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

// Only when run directly, so start.ts (`npm start`) can import printDemoBanner.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
