#!/usr/bin/env python3
"""Sizes of what a copy of the benchmark's images has to move (scripts/bench-copy.sh).

    source-sizes.py HOST REPO:TAG...

Reads each image from the plain-HTTP registry at HOST (the index, its child manifests, their
configs and layers) and prints JSON:

  unique_bytes     every distinct blob (layer, config) and manifest counted once: the least a
                   copy can send when it mounts blobs it already pushed into other repositories
  per_repo_bytes   the same, counted once per repository: what a copy sends when every
                   repository gets its own upload of the shared base layers
  unique_blobs     distinct layers and configs; manifests: distinct manifests and indexes
  images, multi_platform   images read, and how many of them are indexes
"""
import hashlib
import json
import sys
import urllib.request

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


def get_manifest(host, repo, ref):
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req) as resp:
        body = resp.read()
    return body, "sha256:" + hashlib.sha256(body).hexdigest(), json.loads(body)


def main():
    host, refs = sys.argv[1], sys.argv[2:]
    everything = {}  # digest -> size, over all repositories
    per_repo = 0
    blobs, manifests, multi = set(), set(), 0
    for ref in refs:
        repo, _, tag = ref.rpartition(":")
        seen = {}

        def manifest(reference):
            body, digest, doc = get_manifest(host, repo, reference)
            seen[digest] = len(body)
            manifests.add(digest)
            return doc

        doc = manifest(tag)
        children = [doc]
        if doc.get("mediaType") in INDEXES or "manifests" in doc:
            multi += 1
            children = [manifest(d["digest"]) for d in doc["manifests"]]
        for child in children:
            for d in [child["config"], *child.get("layers", [])]:
                seen[d["digest"]] = d["size"]
                blobs.add(d["digest"])
        per_repo += sum(seen.values())
        everything.update(seen)
    print(json.dumps({
        "unique_bytes": sum(everything.values()),
        "per_repo_bytes": per_repo,
        "unique_blobs": len(blobs),
        "manifests": len(manifests),
        "images": len(refs),
        "multi_platform": multi,
    }))


if __name__ == "__main__":
    main()
