# docker buildx bake: one target per service. Full content (GPU/CPU transcriber variants, cache,
# platforms) lands with the Kubernetes issue.
variable "REGISTRY" { default = "" }
variable "TAG" { default = "dev" }

group "default" {
  targets = ["gateway", "ingest", "transcriber", "indexer", "chat"]
}

target "_common" {
  context = "."
  platforms = ["linux/amd64"]
}

target "gateway" {
  inherits = ["_common"]
  dockerfile = "services/gateway/Dockerfile"
  tags = ["${REGISTRY}vidsage-gateway:${TAG}"]
}

target "ingest" {
  inherits = ["_common"]
  dockerfile = "services/ingest/Dockerfile"
  tags = ["${REGISTRY}vidsage-ingest:${TAG}"]
}

target "transcriber" {
  inherits = ["_common"]
  dockerfile = "services/transcriber/Dockerfile"
  tags = ["${REGISTRY}vidsage-transcriber:${TAG}"]
}

target "indexer" {
  inherits = ["_common"]
  dockerfile = "services/indexer/Dockerfile"
  tags = ["${REGISTRY}vidsage-indexer:${TAG}"]
}

target "chat" {
  inherits = ["_common"]
  dockerfile = "services/chat/Dockerfile"
  tags = ["${REGISTRY}vidsage-chat:${TAG}"]
}
