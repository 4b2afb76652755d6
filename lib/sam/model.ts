/**
 * A whole SAM model (image encoder ViT or TinyViT + prompt encoder + mask decoder) built from a state_dict, with the
 * encoder type and sizes inferred from tensor shapes. Owns the tfjs weights (call `dispose`).
 */
import { tf } from "../backend/mod.ts";
import { VitEncoder } from "./vit.ts";
import { TinyVitEncoder } from "./tinyvit.ts";
import { PromptEncoder } from "./prompt.ts";
import { MaskDecoder } from "./decoder.ts";
import { loadSamStateDict, type StateDict } from "./weights.ts";
import { disposeTree } from "./layers.ts";
import { UserError } from "../util/errors.ts";

/** Common interface of the image encoders: (1, S, S, 3) preprocessed → (1, S/16, S/16, P). */
export interface ImageEncoder {
  readonly imgSize: number;
  forward(x: tf.Tensor4D, onIntermediate?: (name: string, t: tf.Tensor) => void): tf.Tensor4D;
}

/** Encoder kind inferred from the checkpoint. */
export type EncoderKind = "vit" | "tinyvit";

/** Which encoder a state_dict holds. */
export function encoderKind(sd: StateDict): EncoderKind {
  if (sd.has("image_encoder.pos_embed")) return "vit";
  if (sd.has("image_encoder.patch_embed.seq.0.c.weight")) return "tinyvit";
  throw new UserError("not a SAM checkpoint (no image_encoder.pos_embed or image_encoder.patch_embed.seq.*)");
}

/** Segment Anything model. */
export class SamModel {
  readonly kind: EncoderKind;
  readonly encoder: ImageEncoder;
  readonly prompt: PromptEncoder;
  readonly decoder: MaskDecoder;
  readonly imgSize: number;
  readonly maskThreshold = 0;

  constructor(sd: StateDict) {
    this.kind = encoderKind(sd);
    if (this.kind === "vit") {
      this.encoder = new VitEncoder(sd);
    } else {
      this.encoder = new TinyVitEncoder(sd);
    }
    this.imgSize = this.encoder.imgSize;
    this.prompt = new PromptEncoder(sd, this.imgSize);
    this.decoder = new MaskDecoder(sd);
  }

  /** Load from a `.pth`/`.pt` file or a fixture model folder. */
  static async load(file: string): Promise<SamModel> {
    return new SamModel(await loadSamStateDict(file));
  }

  /** Free all weights. */
  dispose(): void {
    disposeTree(this.encoder);
    disposeTree(this.prompt);
    disposeTree(this.decoder);
  }
}
