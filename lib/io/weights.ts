/**
 * The registry of official pretrained weights (names, file names, official URLs, checksums where published) and
 * `fetchWeights`, which downloads one into the cache folder (or returns the cached copy).
 */
import * as path from "node:path";
import { UserError } from "../util/errors.ts";
import { cacheDir, downloadFile, type DownloadOptions } from "./download.ts";

/** One downloadable weights file. */
export interface WeightsEntry {
  /** registry name, e.g. `yolov8n-seg`, `sam_vit_b`, `mobile_sam` */
  name: string;
  /** file name in the cache */
  file: string;
  /** official download URL */
  url: string;
  /** what it is (one line) */
  description: string;
  family: "yolov8-seg" | "sam" | "mobile_sam";
  /** published SHA-256 (hex), when the publisher gives one */
  sha256?: string;
  /** approximate size in MB, for the listing */
  sizeMB: number;
}

/** ultralytics' asset release used by 8.2.x (`attempt_download_asset(..., release="v8.2.0")`). */
const ULTRALYTICS_RELEASE = "https://github.com/ultralytics/assets/releases/download/v8.2.0";
const SAM_BASE = "https://dl.fbaipublicfiles.com/segment_anything";

const YOLO_SIZES: Record<string, [number, string]> = {
  n: [6.7, "3.4M params"],
  s: [23.9, "11.8M params"],
  m: [52.4, "27.3M params"],
  l: [88.1, "46.0M params"],
  x: [137.4, "71.8M params"],
};

/** All known weights, in listing order. No publisher here gives a SHA-256, so none is checked by default. */
export const WEIGHTS: readonly WeightsEntry[] = [
  ...Object.entries(YOLO_SIZES).map(([s, [size, params]]): WeightsEntry => ({
    name: `yolov8${s}-seg`,
    file: `yolov8${s}-seg.pt`,
    url: `${ULTRALYTICS_RELEASE}/yolov8${s}-seg.pt`,
    description: `ultralytics YOLOv8${s}-seg, COCO (80 classes), ${params}`,
    family: "yolov8-seg",
    sizeMB: size,
  })),
  {
    name: "sam_vit_b",
    file: "sam_vit_b_01ec64.pth",
    url: `${SAM_BASE}/sam_vit_b_01ec64.pth`,
    description: "Segment Anything ViT-B (image encoder + prompt encoder + mask decoder)",
    family: "sam",
    sizeMB: 375,
  },
  {
    name: "sam_vit_l",
    file: "sam_vit_l_0b3195.pth",
    url: `${SAM_BASE}/sam_vit_l_0b3195.pth`,
    description: "Segment Anything ViT-L",
    family: "sam",
    sizeMB: 1250,
  },
  {
    name: "sam_vit_h",
    file: "sam_vit_h_4b8939.pth",
    url: `${SAM_BASE}/sam_vit_h_4b8939.pth`,
    description: "Segment Anything ViT-H",
    family: "sam",
    sizeMB: 2560,
  },
  {
    name: "mobile_sam",
    file: "mobile_sam.pt",
    url: "https://raw.githubusercontent.com/ChaoningZhang/MobileSAM/master/weights/mobile_sam.pt",
    description: "MobileSAM (TinyViT-5M image encoder + SAM decoder)",
    family: "mobile_sam",
    sizeMB: 38.8,
  },
];

/** Find an entry by registry name or file name (`yolov8n-seg`, `yolov8n-seg.pt`, `sam_vit_b_01ec64.pth`, ...). */
export function findWeights(name: string): WeightsEntry | undefined {
  const n = name.trim().toLowerCase();
  return WEIGHTS.find((w) => w.name === n || w.file === n || w.name === n.replace(/\.(pt|pth)$/, ""));
}

/** Options of `fetchWeights`. */
export interface FetchWeightsOptions extends Omit<DownloadOptions, "sha256"> {
  /** download from `<baseUrl>/<file>` instead of the official URL (mirrors, tests) */
  baseUrl?: string;
  /** destination folder (default: `cacheDir()`) */
  dir?: string;
  /** checksum override (hex SHA-256) */
  sha256?: string;
}

/** Download (or reuse the cached copy of) the named weights; returns the local file path. */
export async function fetchWeights(name: string, opts: FetchWeightsOptions = {}): Promise<string> {
  const w = findWeights(name);
  if (!w) {
    throw new UserError(`unknown weights '${name}'; known: ${WEIGHTS.map((x) => x.name).join(", ")}`);
  }
  const url = opts.baseUrl ? `${opts.baseUrl.replace(/\/+$/, "")}/${w.file}` : w.url;
  const dest = path.join(opts.dir ?? cacheDir(), w.file);
  return await downloadFile(url, dest, { ...opts, sha256: opts.sha256 ?? w.sha256 });
}
