#!/usr/bin/env python3
"""Static validation of the deployment files, for CI (which has no Docker
engine and no Kubernetes cluster). tests/deploy.rs runs it and checks the
files against the crawler binary with what it prints.

    validate.py compose COMPOSE_FILE ENV_FILE SCHEMA
        Interpolate the compose file with ENV_FILE the way `docker compose`
        does (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$),
        validate it against the Compose Specification's JSON schema, and
        print {"model": <interpolated file>, "variables": [<names used>]}.
    validate.py k8s RENDERED_YAML KUBERNETES_VERSION...
        Validate every document of `kubectl kustomize` output strictly
        (unknown fields are errors) against the Kubernetes schemas of each
        version (package kubernetes-validate), and KEDA objects against a
        schema derived from KEDA's CRDs (package cloudcoil-models-keda);
        print the documents as a JSON list.
    validate.py dockerfile DOCKERFILE
        Parse with BuildKit's own parser (package dockerfile) and print the
        instructions as a JSON list of {"cmd", "value", "flags", "json"}.
    validate.py yaml FILE
        Print a YAML file as JSON.

Exit status: 0 valid, 1 invalid (the reasons on stderr), 3 a Python package
is missing (the test then skips, or fails in CI).
"""

import json
import re
import sys


def need(module, package):
    """Import a module, or exit 3 naming the package that provides it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        print(f"missing Python package {package} (pip install {package})", file=sys.stderr)
        sys.exit(3)


def fail(errors):
    for e in errors:
        print(e, file=sys.stderr)
    sys.exit(1)


def load_yaml_all(path):
    yaml = need("yaml", "pyyaml")
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --- compose -----------------------------------------------------------------


def read_env_file(path):
    """KEY=VALUE lines of a compose .env file; `#` comments; quotes stripped."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                fail([f"{path}:{n}: not KEY=VALUE: {line}"])
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key] = value
    return env


# $$, ${NAME<op>arg} or $NAME.
INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>))"
)


def interpolate(value, env, used, errors, where):
    if isinstance(value, dict):
        return {k: interpolate(v, env, used, errors, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, used, errors, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def one(m):
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            errors.append(f"{where}: invalid interpolation in {value!r}")
            return ""
        name = m.group("braced") or m.group("named")
        used.add(name)
        op, arg = m.group("op"), m.group("arg")
        val = env.get(name)
        present = val is not None and (val != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return val if present else arg
        if op in (":?", "?"):
            if not present:
                errors.append(f"{where}: {name} is required: {arg}")
            return val or ""
        if op in (":+", "+"):
            return arg if present else ""
        return val or ""

    return INTERPOLATION.sub(one, value)


def bare_environment(model, used):
    """`environment` entries without a value are passed through by name
    from .env or the shell: they are settings of the file too."""
    for service in (model.get("services") or {}).values():
        env = service.get("environment") or {}
        if isinstance(env, dict):
            used.update(k for k, v in env.items() if v is None)
        else:
            used.update(e for e in env if "=" not in e)


def compose(path, env_path, schema_path):
    jsonschema = need("jsonschema", "jsonschema")
    docs = load_yaml_all(path)
    if len(docs) != 1:
        fail([f"{path}: expected one YAML document, found {len(docs)}"])
    env, used, errors = read_env_file(env_path), set(), []
    model = interpolate(docs[0], env, used, errors, "")
    bare_environment(model, used)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    # The schema declares draft-07 under a URI that jsonschema does not map.
    validator = jsonschema.Draft7Validator(schema)
    for e in sorted(validator.iter_errors(model), key=lambda e: list(e.absolute_path)):
        errors.append(f"{path}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    if errors:
        fail(errors)
    json.dump({"model": model, "variables": sorted(used)}, sys.stdout)


# --- Kubernetes --------------------------------------------------------------


def strict(schema):
    """Forbid unknown fields in every object that lists its fields, as the
    API server's strict field validation (kubectl's default) does."""
    if isinstance(schema, dict):
        if schema.get("properties") and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


def keda_validators():
    """JSON schemas of the KEDA kinds, derived from the models that
    cloudcoil-models-keda generates from KEDA's CRDs (v1alpha1)."""
    jsonschema = need("jsonschema", "jsonschema")
    keda = need("cloudcoil.models.keda.v1alpha1", "cloudcoil-models-keda")
    validators = {}
    for kind in ("ScaledObject", "TriggerAuthentication"):
        schema = strict(getattr(keda, kind).model_json_schema(by_alias=True))
        # The generated root has apiVersion/kind/metadata optional: a
        # manifest must have them.
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        validators[kind] = jsonschema.Draft202012Validator(schema)
    return validators


# Metadata of the KEDA scalers used here. The CRD types trigger metadata as a
# free-form string map, so the scalers' own parameters get a structural check:
# required keys, known keys, allowed values.
SCALERS = {
    "rabbitmq": {
        "required": {"queueName", "mode", "value"},
        "allowed": {"queueName", "mode", "value", "activationValue", "protocol", "vhostName",
                    "host", "hostFromEnv", "excludeUnacknowledged", "useRegex", "pageSize",
                    "operation", "timeout", "unsafeSsl"},
        "values": {"mode": {"QueueLength", "MessageRate"}, "protocol": {"auto", "http", "amqp"}},
    },
    "prometheus": {
        "required": {"serverAddress", "query", "threshold"},
        "allowed": {"serverAddress", "query", "threshold", "activationThreshold", "namespace",
                    "customHeaders", "ignoreNullValues", "queryParameters", "unsafeSsl", "timeout"},
        "values": {},
    },
}


def check_triggers(name, doc, errors):
    for i, trigger in enumerate((doc.get("spec") or {}).get("triggers") or []):
        where = f"{name}: trigger {i} ({trigger.get('type')})"
        rules = SCALERS.get(trigger.get("type"))
        if rules is None:
            errors.append(f"{where}: no structural check for this scaler type")
            continue
        meta = trigger.get("metadata") or {}
        for key in sorted(rules["required"] - meta.keys()):
            errors.append(f"{where}: metadata.{key} is required")
        for key in sorted(meta.keys() - rules["allowed"]):
            errors.append(f"{where}: metadata.{key} is not a parameter of this scaler")
        for key, allowed in rules["values"].items():
            if key in meta and meta[key] not in allowed:
                errors.append(f"{where}: metadata.{key} must be one of {sorted(allowed)}")
        if trigger["type"] == "rabbitmq" and not ({"host", "hostFromEnv"} & meta.keys()) and not trigger.get(
            "authenticationRef"
        ):
            errors.append(f"{where}: needs host, hostFromEnv or an authenticationRef")


def k8s(path, versions):
    kv = need("kubernetes_validate", "kubernetes-validate")
    docs = load_yaml_all(path)
    keda, errors = None, []
    for doc in docs:
        name = f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name')}"
        if str(doc.get("apiVersion", "")).startswith("keda.sh/"):
            keda = keda or keda_validators()
            validator = keda.get(doc.get("kind"))
            if validator is None:
                errors.append(f"{name}: no schema for this KEDA kind")
                continue
            errors += [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
            if doc.get("kind") == "ScaledObject":
                check_triggers(name, doc, errors)
            continue
        for version in versions:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                errors.append(f"{name} (Kubernetes {version}): {'/'.join(map(str, e.path))}: {e.message}")
            except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
                errors.append(f"{name} (Kubernetes {version}): {e}")
    if errors:
        fail(errors)
    json.dump(docs, sys.stdout)


# --- Dockerfile and plain YAML -------------------------------------------------


def dockerfile(path):
    parser = need("dockerfile", "dockerfile")
    try:
        commands = parser.parse_file(path)
    except parser.GoParseError as e:
        fail([f"{path}: {e}"])
    json.dump(
        [{"cmd": c.cmd, "value": list(c.value), "flags": list(c.flags), "json": c.json} for c in commands],
        sys.stdout,
    )


def main(argv):
    match argv:
        case ["compose", path, env_path, schema]:
            compose(path, env_path, schema)
        case ["k8s", path, *versions] if versions:
            k8s(path, versions)
        case ["dockerfile", path]:
            dockerfile(path)
        case ["yaml", path]:
            json.dump(load_yaml_all(path), sys.stdout)
        case _:
            print(__doc__, file=sys.stderr)
            sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
