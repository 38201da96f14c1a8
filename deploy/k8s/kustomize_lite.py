#!/usr/bin/env python3
"""Renders a kustomization the way `kustomize build` does, for the features deploy/k8s uses,
so that scripts/check-deploy can validate the manifests where no kustomize (or kubectl) is
installed. Where kubectl is installed, check-deploy renders with both and requires the same
objects, so this file cannot drift from kustomize unnoticed.

Supported (anything else in a kustomization is an error, never silently ignored):
  resources           files, and directories holding a kustomization.yaml
  namespace           set on every namespaced object
  images              name -> newName / newTag
  patches             `path:` strategic-merge patches (one or more documents, each naming
                      its target by apiVersion, kind and metadata.name); lists of objects
                      with a `name` (containers, env, ports, volumes) merge by name
  configMapGenerator  `files:` only, with generatorOptions.disableNameSuffixHash: true

Usage: kustomize_lite.py DIR   (prints the objects as a YAML stream)
"""

import copy
import os
import sys

import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass"}
KNOWN_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches",
              "configMapGenerator", "generatorOptions"}


class RenderError(Exception):
    pass


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def key(obj):
    return (obj.get("kind"), obj.get("metadata", {}).get("name"))


def merge(base, patch, where):
    """Strategic merge of `patch` into `base` (both plain YAML values)."""
    if isinstance(patch, dict):
        if not isinstance(base, dict):
            return copy.deepcopy(patch)
        out = dict(base)
        for k, v in patch.items():
            if k.startswith("$"):
                raise RenderError(f"{where}: patch directive {k} is not supported")
            out[k] = merge(base.get(k), v, f"{where}.{k}") if k in base else copy.deepcopy(v)
        return out
    if isinstance(patch, list):
        named = all(isinstance(e, dict) and "name" in e for e in patch)
        if named and isinstance(base, list) and all(isinstance(e, dict) and "name" in e for e in base):
            out = [copy.deepcopy(e) for e in base]
            for e in patch:
                for i, b in enumerate(out):
                    if b["name"] == e["name"]:
                        out[i] = merge(b, e, f"{where}[{e['name']}]")
                        break
                else:
                    out.append(copy.deepcopy(e))
            return out
        return copy.deepcopy(patch)
    return patch


def set_image(obj, images):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        image = c.get("image", "")
        name, _, tag = image.partition(":")
        for rule in images:
            if rule["name"] == name:
                unknown = set(rule) - {"name", "newName", "newTag"}
                if unknown:
                    raise RenderError(f"images: unsupported fields {sorted(unknown)}")
                name = rule.get("newName", name)
                tag = str(rule.get("newTag", tag))
                c["image"] = f"{name}:{tag}" if tag else name


def build(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    (k,) = load_docs(path)
    unknown = set(k) - KNOWN_KEYS
    if unknown:
        raise RenderError(f"{path}: unsupported fields {sorted(unknown)}")
    objects = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(directory, r))
        objects.extend(build(p) if os.path.isdir(p) else load_docs(p))
    options = k.get("generatorOptions", {})
    for g in k.get("configMapGenerator", []):
        if set(g) - {"name", "files"} or options != {"disableNameSuffixHash": True}:
            raise RenderError(f"{path}: only configMapGenerator files with disableNameSuffixHash are supported")
        data = {}
        for f in g["files"]:
            name, _, src = f.partition("=") if "=" in f else (os.path.basename(f), "", f)
            with open(os.path.join(directory, src), encoding="utf-8") as fh:
                data[name] = fh.read()
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]}, "data": data})
    for p in k.get("patches", []):
        if set(p) != {"path"}:
            raise RenderError(f"{path}: only `path:` patches are supported, not {sorted(p)}")
        for patch in load_docs(os.path.join(directory, p["path"])):
            matches = [i for i, o in enumerate(objects) if key(o) == key(patch)
                       and o.get("apiVersion") == patch.get("apiVersion")]
            if len(matches) != 1:
                raise RenderError(f"{p['path']}: patch target {key(patch)} matches {len(matches)} objects")
            objects[matches[0]] = merge(objects[matches[0]], patch, f"{p['path']}:{key(patch)}")
    for o in objects:
        set_image(o, k.get("images", []))
        if "namespace" in k and o.get("kind") not in CLUSTER_SCOPED:
            o.setdefault("metadata", {})["namespace"] = k["namespace"]
    seen = set()
    for o in objects:
        ident = (key(o), o.get("metadata", {}).get("namespace"))
        if ident in seen:
            raise RenderError(f"{directory}: {ident} defined twice")
        seen.add(ident)
    return objects


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        objects = build(sys.argv[1])
    except (RenderError, OSError, yaml.YAMLError) as e:
        sys.exit(f"kustomize_lite: {e}")
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
