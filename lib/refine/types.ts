/** The instance structure refinement takes and returns (the YOLO predict result's core fields). */

/** Instances of one image in original pixels. */
export interface Instances {
  /** number of instances */
  n: number;
  /** [n, 4] xyxy original pixels */
  boxes: Float32Array;
  /** [n] scores */
  conf: Float32Array;
  /** [n] class ids */
  cls: Int32Array;
  /** n masks, each H*W 0/1 row-major */
  masks: Uint8Array[];
}
