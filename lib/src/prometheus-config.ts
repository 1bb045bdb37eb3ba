// The Prometheus server config (scrape jobs, file_sd targets, rule files) shared by the embedded stack
// and docker-compose (deploy/prometheus/prometheus.yml is this rendered for the container's paths).
import { stringify } from "yaml";

export interface PrometheusConfigPaths {
  /** Directory of *.json file_sd target files written by lib/src/scrape-targets.ts. */
  readonly targetsDir: string;
  /** Directory of *.yml rule files (lib/src/alert-rules.ts). */
  readonly rulesDir: string;
  /** Port Prometheus itself listens on 127.0.0.1, scraped as job "prometheus". */
  readonly selfPort: number;
}

/** Short enough that a test sees a new service scraped within seconds; cheap at dev-stack scale. */
export const SCRAPE_INTERVAL = "5s";

export function renderPrometheusConfig(p: PrometheusConfigPaths): string {
  const config = {
    global: { scrape_interval: SCRAPE_INTERVAL, evaluation_interval: SCRAPE_INTERVAL },
    rule_files: [`${p.rulesDir}/*.yml`],
    scrape_configs: [
      {
        // Every running service drops a file here; the file's labels set its job and instance.
        job_name: "stoq",
        file_sd_configs: [{ files: [`${p.targetsDir}/*.json`] }],
      },
      { job_name: "prometheus", static_configs: [{ targets: [`127.0.0.1:${p.selfPort}`] }] },
    ],
  };
  return `# Rendered by lib/src/prometheus-config.ts; do not edit by hand.\n${stringify(config)}`;
}
