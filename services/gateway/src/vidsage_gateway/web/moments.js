// Moments: "#/videos/<id>?t=12.5" links, and seeking a player to one.
import { formatTime, h } from "./dom.js";

export const momentHref = (videoId, seconds) =>
  `#/videos/${encodeURIComponent(videoId)}?t=${Math.max(0, Number(seconds) || 0).toFixed(2)}`;

/** A link to a moment; in the video's own view a click seeks instead of navigating. */
export function momentLink(videoId, seconds, label = formatTime(seconds), attrs = {}) {
  return h(
    "a",
    { ...attrs, href: momentHref(videoId, seconds), "data-video-id": videoId, "data-t": seconds },
    label,
  );
}

/** Seek (once the metadata is there) and play; a refused autoplay just leaves it paused. */
export function seek(video, seconds, { play = true } = {}) {
  const go = () => {
    video.currentTime = Math.min(seconds, Number.isFinite(video.duration) ? video.duration : seconds);
    if (play) video.play().catch(() => {});
  };
  if (video.readyState >= HTMLMediaElement.HAVE_METADATA) go();
  else video.addEventListener("loadedmetadata", go, { once: true });
}
