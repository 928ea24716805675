import { z } from 'zod';
import { HttpUrl, SecretRef } from './common.js';

export const ObservabilityConfig = z
  .strictObject({
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Serve Prometheus metrics at GET /metrics (serve only)'),
        token: SecretRef.optional().describe(
          'Bearer token a scraper presents to read /metrics from a non-loopback address; without it only loopback scrapers are served',
        ),
      })
      .default({ enabled: true }),
    otlp: z
      .strictObject({
        endpoint: HttpUrl.describe('OTLP/HTTP collector base URL, e.g. "http://otel-collector:4318"; spans go to <endpoint>/v1/traces'),
      })
      .optional()
      .describe('Export OpenTelemetry traces; without it the standard OTEL_EXPORTER_OTLP_ENDPOINT is used, and with neither tracing is off'),
    serviceName: z.string().min(1).optional().describe('service.name of the exported spans (default: OTEL_SERVICE_NAME, else "xaa-gateway")'),
  })
  .describe('Metrics (Prometheus) and traces (OpenTelemetry)');
export type ObservabilityConfig = z.infer<typeof ObservabilityConfig>;
