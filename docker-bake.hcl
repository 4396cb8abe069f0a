# docker buildx bake: one target per service image (the transcriber as a GPU and a CPU target).
#   docker buildx bake                                  # every image, tagged vidsage-<name>:dev
#   REGISTRY=ghcr.io/acme/ TAG=0.1.0 docker buildx bake --push
# REGISTRY is a prefix and ends with "/" when set. With a registry, the layer cache is kept in
# it (<image>:buildcache, mode=max); without one, bake uses the builder's local cache.
variable "REGISTRY" { default = "" }
variable "TAG" { default = "dev" }
# Base images, pinned by tag in one place (passed to every Dockerfile as build args).
variable "PYTHON_IMAGE" { default = "python:3.11.13-slim-bookworm" }
variable "CUDA_IMAGE" { default = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04" }
variable "PLATFORMS" { default = "linux/amd64" }

function "image" {
  params = [name]
  result = "${REGISTRY}vidsage-${name}"
}

function "cache_from" {
  params = [name]
  result = REGISTRY == "" ? [] : ["type=registry,ref=${image(name)}:buildcache"]
}

function "cache_to" {
  params = [name]
  result = REGISTRY == "" ? [] : ["type=registry,ref=${image(name)}:buildcache,mode=max"]
}

group "default" {
  targets = ["gateway", "ingest", "transcriber", "transcriber-cpu", "indexer", "chat", "notifier"]
}

# The shared base every target inherits: context, base images, platforms, labels.
target "_common" {
  context = "."
  platforms = split(",", PLATFORMS)
  args = {
    PYTHON_IMAGE = PYTHON_IMAGE
    CUDA_IMAGE = CUDA_IMAGE
  }
  labels = {
    "org.opencontainers.image.title" = "vidsage"
    "org.opencontainers.image.version" = TAG
  }
}

target "gateway" {
  inherits = ["_common"]
  dockerfile = "services/gateway/Dockerfile"
  tags = ["${image("gateway")}:${TAG}"]
  cache-from = cache_from("gateway")
  cache-to = cache_to("gateway")
}

target "ingest" {
  inherits = ["_common"]
  dockerfile = "services/ingest/Dockerfile"
  tags = ["${image("ingest")}:${TAG}"]
  cache-from = cache_from("ingest")
  cache-to = cache_to("ingest")
}

# GPU: CUDA 12 + cuDNN 9 runtime; the CUDA base is published for linux/amd64 and linux/arm64.
target "transcriber" {
  inherits = ["_common"]
  dockerfile = "services/transcriber/Dockerfile"
  target = "gpu"
  tags = ["${image("transcriber")}:${TAG}"]
  cache-from = cache_from("transcriber")
  cache-to = cache_to("transcriber")
}

target "transcriber-cpu" {
  inherits = ["_common"]
  dockerfile = "services/transcriber/Dockerfile"
  target = "cpu"
  tags = ["${image("transcriber-cpu")}:${TAG}"]
  cache-from = cache_from("transcriber-cpu")
  cache-to = cache_to("transcriber-cpu")
}

target "indexer" {
  inherits = ["_common"]
  dockerfile = "services/indexer/Dockerfile"
  tags = ["${image("indexer")}:${TAG}"]
  cache-from = cache_from("indexer")
  cache-to = cache_to("indexer")
}

target "chat" {
  inherits = ["_common"]
  dockerfile = "services/chat/Dockerfile"
  tags = ["${image("chat")}:${TAG}"]
  cache-from = cache_from("chat")
  cache-to = cache_to("chat")
}

target "notifier" {
  inherits = ["_common"]
  dockerfile = "services/notifier/Dockerfile"
  tags = ["${image("notifier")}:${TAG}"]
  cache-from = cache_from("notifier")
  cache-to = cache_to("notifier")
}
