/**
 * The data room's public surface in one import: mask geometry, COCO RLE, YOLO-seg and COCO JSON formats, the SkyTNT
 * layout, synthesis, the built-in generated data (and the demo's datasets), mixing, downloads and previews.
 */
export {
  fillPolygonsInto,
  joinPolygons,
  maskArea,
  maskBox,
  maskIou,
  maskToPolygons,
  maskToPolygonsWithHoles,
  rasterizePolygons,
} from "./mask.ts";
export {
  decodeRle,
  encodeRle,
  type Rle,
  rleArea,
  rleFromPolygon,
  rleFromPolygons,
  rleFromString,
  rleIou,
  rleMerge,
  rleToString,
} from "./rle.ts";
export {
  formatYoloLabel,
  imageToLabelPath,
  parseYoloLabel,
  readDataYaml,
  readYoloDataset,
  writeDataYaml,
  writeYoloLabel,
  type YoloDataset,
  type YoloInstance,
  type YoloItem,
} from "./yolo.ts";
export {
  type CocoAnnotation,
  type CocoDataset,
  cocoToYolo,
  maskToCocoRle,
  readCocoJson,
  readCocoResults,
  segmentationToMask,
  segmentationToRle,
  writeCocoJson,
  writeCocoResults,
} from "./coco.ts";
export { loadBackground, loadForeground, loadPair, readSkytnt } from "./skytnt.ts";
export { REINFORCED_DEFAULTS, SIMPLE_DEFAULTS, type SynthConfig, synthConfig, synthesize } from "./synth.ts";
export { buildBuiltinTestSet, buildDemoDatasets, type DemoDatasets, ensureBuiltinData } from "./builtin.ts";
export { mixDatasets, type MixPart } from "./mix.ts";
export { fetchCocoPerson, fetchSkytnt } from "./fetch.ts";
export { datasetStats, formatStats, writeSampleGrid } from "./preview.ts";
