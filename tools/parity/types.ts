/** Shared types of the parity tool: one category module per fixture folder (`forward/`, `postprocess/`, ...). */

export type Verdict = "PASS" | "FAIL" | "SKIP";

/** One reference case's result: a line of the report. */
export interface CaseResult {
  /** category/case/variant, e.g. `forward/f1_bus_rect256/layer_03` */
  name: string;
  verdict: Verdict;
  /** error figures, e.g. `maxabs=1.2e-6 (tol 1e-3)`; for SKIP, the reason */
  detail: string;
}

/** Options from the command line (`key=value`), passed to every category. */
export interface ParityOptions {
  /** inference engine for the forward/postprocess categories: tfjs (default) or ort */
  engine: string;
  /** only run cases whose name contains this substring */
  filter?: string;
  /** all other key=value options */
  extra: Record<string, string>;
}

/** A category: given the reference root folder, yields case results. Only run when `root/<folder>` exists. */
export interface ParityCategory {
  /** folder name under the reference root */
  folder: string;
  run(root: string, opts: ParityOptions): AsyncIterable<CaseResult>;
}
