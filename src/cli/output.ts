/** How every command writes: one line at a time, on stdout (results) or stderr (progress, warnings, errors). */
export const out = {
  stdout: (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  stderr: (s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
};

/** The global options (--config, --credentials), read once the command line is parsed. */
export type Globals = () => { config: string; credentials: string };
