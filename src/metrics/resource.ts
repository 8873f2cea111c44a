import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { clientVersion } from '../transport/version';

/** `service.name` when the environment names none (the SDK's own default is `unknown_service:node`). */
export const DEFAULT_SERVICE_NAME = 'athena-rx';

/**
 * The resource the CLI's metrics describe (Prometheus shows it as `target_info`): the SDK's
 * defaults (`telemetry.sdk.*`), then `service.name` `athena-rx` and `service.version`, then
 * what the environment says through the SDK's own detector: `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES` win, as in every OpenTelemetry SDK.
 *
 * Loaded by the CLI only: the library itself depends on `@opentelemetry/api` alone.
 */
export function metricsResource(): Resource {
  return defaultResource()
    .merge(resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME, 'service.version': clientVersion() }))
    .merge(detectResources({ detectors: [envDetector] }));
}
