// A video's processing status, as words and progress bars.
import { h } from "./dom.js";

const STAGES = [
  ["ingest", "Preparing"],
  ["transcribe", "Transcribing"],
  ["index", "Indexing"],
];

const STATUS_TEXT = {
  uploaded: "Queued",
  ingesting: "Preparing",
  ingested: "Waiting to transcribe",
  transcribing: "Transcribing",
  transcribed: "Waiting to index",
  indexing: "Indexing",
  ready: "Ready",
  failed: "Failed",
};

export const isProcessing = (record) => record.status !== "ready" && record.status !== "failed";
export const hasThumbnail = (record) => Boolean(record.objects && record.objects.thumbnail);
export const hasTranscript = (record) => Boolean(record.objects && record.objects.transcript);

/** The stage being worked on now (running, else the first pending one), or null when done. */
function currentStage(record) {
  const stages = record.stages || {};
  const running = STAGES.find(([key]) => stages[key] && stages[key].state === "running");
  if (running) return running;
  return STAGES.find(([key]) => !stages[key] || stages[key].state === "pending") || null;
}

/** One line of words: "Transcribing 45 %", "Ready", "Failed while transcribing: reason". */
export function statusText(record) {
  if (record.status === "failed") {
    const error = record.error || {};
    const stage = STAGES.find(([key]) => key === error.stage);
    const where = stage ? ` while ${stage[1].toLowerCase()}` : "";
    return `Failed${where}: ${error.reason || "unknown reason"}`;
  }
  const progress = stageProgress(record);
  const base = STATUS_TEXT[record.status] || record.status;
  return progress === null ? base : `${base} ${Math.round(progress)} %`;
}

/** Percent of the running stage, or null when the stage reports none. */
function stageProgress(record) {
  const stage = currentStage(record);
  if (!stage || !isProcessing(record)) return null;
  const state = record.stages[stage[0]];
  return state && state.state === "running" && typeof state.progress === "number" ? state.progress : null;
}

/**
 * The badge and, while processing, a bar per stage: done stages full, the running one at its
 * progress (indeterminate when it reports none), pending ones empty.
 */
export function statusBlock(record) {
  const badge = h("span", { class: `badge badge-${record.status}` }, statusText(record));
  if (!isProcessing(record)) return h("div", { class: "status" }, badge);
  const stages = record.stages || {};
  const bars = STAGES.map(([key, label]) => {
    const state = (stages[key] && stages[key].state) || "pending";
    const attrs = { max: 100, "aria-label": `${label}: ${state}` };
    if (state === "done") attrs.value = 100;
    else if (state === "pending") attrs.value = 0;
    else if (typeof stages[key].progress === "number") attrs.value = stages[key].progress;
    return h("li", { class: `stage stage-${state}` }, h("span", {}, label), h("progress", attrs));
  });
  return h("div", { class: "status" }, badge, h("ol", { class: "stages" }, bars));
}
