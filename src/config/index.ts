/**
 * Configuration: one source for types, defaults, validation and docs. Each module is handed its
 * own section (`config.networks[id]`, `config.logging`, ...), never the whole config.
 */
import type { Config } from './load';

export { configSchema } from './definition';
export { ConfigError, loadConfig, parseConfig, type Config } from './load';
export { parseTemplate, renderTemplate, type TemplatePart } from './templates';

/** One entry of `networks`. */
export type NetworkConfig = Config['networks'][string];
/** One entry of `networks.<id>.mappings`. */
export type MappingConfig = NetworkConfig['mappings'][number];
