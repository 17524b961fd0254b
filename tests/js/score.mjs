// Scores texts with transformers.js, loading an ftui text bundle folder as a local model (no network).
// Usage: node score.mjs BUNDLE_DIR [DTYPE [MODEL_FILE_NAME]] < texts.json
//   DTYPE fp32 loads onnx/model.onnx, q8 onnx/model_quantized.onnx; MODEL_FILE_NAME model_O2 loads onnx/model_O2.onnx.
// Prints one JSON array: for each text, {"scores": {label: score}, "ids": the token ids its tokenizer made}.
import fs from "node:fs";
import path from "node:path";
import { env, pipeline } from "@huggingface/transformers";

const [bundle, dtype = "fp32", modelFileName] = process.argv.slice(2);
const folder = path.resolve(bundle);
env.allowRemoteModels = false;
env.localModelPath = path.dirname(folder) + path.sep;
const options = { dtype, device: "cpu", ...(modelFileName ? { model_file_name: modelFileName } : {}) };
const classify = await pipeline("text-classification", path.basename(folder), options);
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
const out = [];
for (const text of texts) {
  const ranked = await classify(text, { top_k: null });
  const ids = classify.tokenizer(text, { truncation: true }).input_ids.tolist()[0].map(Number);
  out.push({ scores: Object.fromEntries(ranked.map((r) => [r.label, r.score])), ids });
}
process.stdout.write(JSON.stringify(out) + "\n");
