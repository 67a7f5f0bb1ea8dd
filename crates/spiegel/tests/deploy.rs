//! The Kubernetes manifests and the container image, checked offline. `scripts/test.sh` renders
//! every overlay of `deploy/` with kustomize and validates it against the Kubernetes schemas
//! (`scripts/deploy-check.sh`); these tests assert, on what was rendered, the properties the
//! operators rely on: the two pseudonymisation keys never in one pod, every container non-root
//! on a read-only root filesystem without privilege escalation, probes on the admin port,
//! requests and limits, a grace period above the drain, default-deny network policies and a
//! disruption budget per workload; and that the Dockerfile builds the release binary CI tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn rendered() -> Vec<(String, Vec<Value>)> {
    let dir = PathBuf::from(std::env::var("SPIEGEL_DEPLOY_RENDERED").expect(
        "SPIEGEL_DEPLOY_RENDERED is not set: run the suite with scripts/test.sh, which renders \
         and validates deploy/overlays",
    ));
    let mut overlays: Vec<(String, Vec<Value>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    overlays.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = overlays.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<String> = fs::read_dir(repo().join("deploy/overlays"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, expected, "every overlay was rendered");
    overlays
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn name(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["kind"].as_str().unwrap(),
        resource["metadata"]["name"].as_str().unwrap()
    )
}

/// The pod template of a workload.
fn pod(resource: &Value) -> Option<&Value> {
    match resource["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "Job" | "DaemonSet" => Some(&resource["spec"]["template"]),
        _ => None,
    }
}

/// Every egress rule of network policy `policy` names its peers, and each excludes the
/// cluster's and the private networks: public addresses only.
fn assert_public_only(policy: &Value, what: &str) {
    let rules = list(&policy["spec"]["egress"]);
    assert!(!rules.is_empty(), "{what}: no egress rule");
    for rule in rules {
        let to = list(&rule["to"]);
        assert!(
            !to.is_empty(),
            "{what}: a rule without `to` allows every address"
        );
        for peer in to {
            let except: BTreeSet<&str> = list(&peer["ipBlock"]["except"])
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            for private in [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
            ] {
                assert!(except.contains(private), "{what} may reach {private}");
            }
        }
    }
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The seconds a stage may take to finish what it has in hand after SIGTERM: the drain
/// timeout of the overlay's configuration (the built-in 60 s without one).
fn drain_seconds(resources: &[Value]) -> u64 {
    let config = resources
        .iter()
        .find(|r| r["kind"] == "ConfigMap" && r["metadata"]["name"] == "spiegel-config")
        .expect("the spiegel-config ConfigMap");
    let json: Value =
        serde_json::from_str(config["data"]["spiegel.json"].as_str().unwrap()).unwrap();
    json["kafka"]["drain_timeout_ms"].as_u64().unwrap_or(60_000) / 1000
}

#[test]
fn no_pod_mounts_both_keys_and_every_container_runs_locked_down() {
    for (overlay, resources) in rendered() {
        let secrets_of = |pod: &Value| -> BTreeSet<String> {
            list(&pod["spec"]["volumes"])
                .iter()
                .filter_map(|v| v["secret"]["secretName"].as_str().map(str::to_owned))
                .collect()
        };
        let mut holders = BTreeSet::new();
        for resource in &resources {
            let Some(template) = pod(resource) else {
                continue;
            };
            let what = format!("{overlay}: {}", name(resource));
            let secrets = secrets_of(template);
            assert!(
                !(secrets.contains("spiegel-stage1-key") && secrets.contains("spiegel-stage2-key")),
                "{what} mounts both the stage-1 and the stage-2 key"
            );
            for key in ["spiegel-stage1-key", "spiegel-stage2-key"] {
                if secrets.contains(key) {
                    holders.insert((key, name(resource)));
                }
            }
            let spec = &template["spec"];
            assert_eq!(spec["automountServiceAccountToken"], false, "{what}");
            let pod_security = &spec["securityContext"];
            assert_eq!(
                pod_security["seccompProfile"]["type"], "RuntimeDefault",
                "{what}"
            );
            let containers: Vec<&Value> = list(&spec["containers"])
                .iter()
                .chain(list(&spec["initContainers"]))
                .collect();
            assert!(!containers.is_empty(), "{what}");
            for container in containers {
                let what = format!("{what} container {}", container["name"]);
                let security = &container["securityContext"];
                let non_root = security["runAsNonRoot"]
                    .as_bool()
                    .or(pod_security["runAsNonRoot"].as_bool());
                assert_eq!(non_root, Some(true), "{what}: runAsNonRoot");
                let user = security["runAsUser"]
                    .as_u64()
                    .or(pod_security["runAsUser"].as_u64());
                assert!(
                    user.is_some_and(|u| u > 0),
                    "{what}: a numeric non-root user"
                );
                assert_eq!(security["readOnlyRootFilesystem"], true, "{what}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{what}");
                assert!(
                    list(&security["capabilities"]["drop"])
                        .iter()
                        .any(|c| c == "ALL"),
                    "{what}: drops all capabilities"
                );
                assert!(
                    container["securityContext"]["privileged"] != true,
                    "{what}: privileged"
                );
                for kind in ["requests", "limits"] {
                    for resource in ["cpu", "memory"] {
                        assert!(
                            container["resources"][kind][resource].is_string(),
                            "{what}: {kind}.{resource}"
                        );
                    }
                }
            }
        }
        // Each key is held by exactly the stage that needs it.
        assert_eq!(
            holders,
            BTreeSet::from([
                ("spiegel-stage1-key", "Deployment/spiegel-api".to_owned()),
                (
                    "spiegel-stage2-key",
                    "StatefulSet/spiegel-pseudonymise".to_owned()
                ),
            ]),
            "{overlay}"
        );
    }
}

#[test]
fn every_long_running_workload_has_probes_a_grace_period_above_the_drain_and_a_budget() {
    for (overlay, resources) in rendered() {
        let drain = drain_seconds(&resources);
        let budgets: Vec<&Value> = resources
            .iter()
            .filter(|r| r["kind"] == "PodDisruptionBudget")
            .collect();
        let admin_listen = resources
            .iter()
            .find(|r| r["kind"] == "ConfigMap" && r["metadata"]["name"] == "spiegel-env")
            .unwrap()["data"]["SPIEGEL_ADMIN_LISTEN"]
            .as_str()
            .unwrap()
            .to_owned();
        let admin_port: u64 = admin_listen.rsplit(':').next().unwrap().parse().unwrap();
        let mut workloads = 0;
        for resource in resources
            .iter()
            .filter(|r| r["kind"] == "Deployment" || r["kind"] == "StatefulSet")
        {
            workloads += 1;
            let what = format!("{overlay}: {}", name(resource));
            let template = pod(resource).unwrap();
            let grace = template["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30);
            assert!(
                grace > drain,
                "{what}: grace {grace} s not above the drain of {drain} s"
            );
            for container in list(&template["spec"]["containers"]) {
                let ports = list(&container["ports"]);
                let admin = ports
                    .iter()
                    .find(|p| p["name"] == "admin")
                    .unwrap_or_else(|| panic!("{what}: no admin port"));
                assert_eq!(admin["containerPort"].as_u64(), Some(admin_port), "{what}");
                for (probe, path) in [
                    ("livenessProbe", "/livez"),
                    ("readinessProbe", "/readyz"),
                    ("startupProbe", ""),
                ] {
                    let http = &container[probe]["httpGet"];
                    assert_eq!(http["port"], "admin", "{what}: {probe}");
                    if !path.is_empty() {
                        assert_eq!(http["path"], path, "{what}: {probe}");
                    }
                }
            }
            let labels = &template["metadata"]["labels"];
            let covered = budgets.iter().any(|b| {
                b["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &labels[k] == v)
            });
            assert!(covered, "{what}: no PodDisruptionBudget");
        }
        assert_eq!(
            workloads, 4,
            "{overlay}: api, pseudonymise, aggregate, publish"
        );

        // Default deny for every pod of the namespace, both directions.
        let deny = resources
            .iter()
            .find(|r| {
                r["kind"] == "NetworkPolicy"
                    && r["spec"]["podSelector"]
                        .as_object()
                        .is_some_and(|s| s.is_empty())
            })
            .unwrap_or_else(|| panic!("{overlay}: no default-deny policy"));
        assert!(deny["spec"]["ingress"].is_null() && deny["spec"]["egress"].is_null());
        assert_eq!(
            deny["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
        // Webhooks leave for public addresses only, never the cluster's own networks.
        let webhooks = resources
            .iter()
            .find(|r| r["kind"] == "NetworkPolicy" && r["metadata"]["name"] == "spiegel-webhooks")
            .unwrap();
        assert_public_only(webhooks, &format!("{overlay}: webhooks"));
        // The API and admin ports have Services.
        let services: BTreeSet<String> = resources
            .iter()
            .filter(|r| r["kind"] == "Service")
            .map(name)
            .collect();
        for service in ["Service/spiegel-api", "Service/spiegel-api-admin"] {
            assert!(services.contains(service), "{overlay}: {service}");
        }
    }
}

#[test]
fn the_dockerfile_builds_the_release_binary_with_the_compiler_ci_uses() {
    let dockerfile = fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    // The build stage: the Rust image of exactly the compiler that builds and tests in CI.
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(rustc.stdout).unwrap();
    let version = version.split_whitespace().nth(1).unwrap();
    assert!(
        stages[0].starts_with(&format!("FROM rust:{version}-")) && stages[0].ends_with(" AS build"),
        "{} is not rustc {version}",
        stages[0]
    );
    // It runs the one release build, which builds what CI tests: the spiegel binary with the
    // Kafka transport and the OpenTelemetry export, from the locked dependencies.
    let build_runs: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("RUN ") && l.contains("build-release"))
        .collect();
    assert_eq!(build_runs, [&"RUN ./scripts/build-release.sh"]);
    let script = fs::read_to_string(repo().join("scripts/build-release.sh")).unwrap();
    let commands: Vec<&str> = script.lines().filter(|l| l.starts_with("cargo ")).collect();
    assert_eq!(
        commands,
        ["cargo build --release --locked -p spiegel --features kafka,otel"]
    );
    let features = fs::read_to_string(repo().join("crates/spiegel/Cargo.toml")).unwrap();
    for feature in ["kafka", "otel"] {
        assert!(
            features.contains(&format!("\n{feature} = [")),
            "{feature}: a feature CI tests with --all-features"
        );
    }
    // The runtime stage: the binary of that build, a numeric non-root user.
    assert!(
        instructions
            .contains(&"COPY --from=build /src/target/release/spiegel /usr/local/bin/spiegel")
    );
    let user = instructions
        .iter()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER");
    let uid: u32 = user[5..].split(':').next().unwrap().parse().unwrap();
    assert!(uid > 0, "{user}");
    // The manifests run as that user.
    for (overlay, resources) in rendered() {
        for resource in &resources {
            if let Some(template) = pod(resource) {
                assert_eq!(
                    template["spec"]["securityContext"]["runAsUser"].as_u64(),
                    Some(u64::from(uid)),
                    "{overlay}: {}",
                    name(resource)
                );
            }
        }
    }
}

#[test]
fn production_keeps_the_reports_in_object_storage_with_credentials_from_a_secret() {
    let overlays = rendered();
    let (_, production) = overlays
        .iter()
        .find(|(name, _)| name == "production")
        .expect("the production overlay");
    let env_of = |workload: &str, variable: &str| -> String {
        let resource = production
            .iter()
            .find(|r| r["metadata"]["name"] == workload && pod(r).is_some())
            .unwrap_or_else(|| panic!("{workload}"));
        let container = &list(&pod(resource).unwrap()["spec"]["containers"])[0];
        list(&container["env"])
            .iter()
            .find(|e| e["name"] == variable)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("{workload}: {variable}"))
            .to_owned()
    };
    // Publish writes where the API reads, in a bucket.
    let written = env_of("spiegel-publish", "SPIEGEL_OUT");
    assert!(written.starts_with("s3://"), "{written}");
    assert_eq!(env_of("spiegel-api", "SPIEGEL_REPORTS"), written);
    for resource in production {
        let Some(pod) = pod(resource) else { continue };
        let containers = list(&pod["spec"]["containers"]);
        // No report volume is left to share between nodes.
        for volume in list(&pod["spec"]["volumes"]) {
            assert_ne!(
                volume["persistentVolumeClaim"]["claimName"],
                "spiegel-reports",
                "{}",
                name(resource)
            );
        }
        let uses_store = containers.iter().any(|c| {
            list(&c["env"])
                .iter()
                .any(|e| e["value"].as_str().is_some_and(|v| v.starts_with("s3://")))
        });
        let from_secret = containers.iter().any(|c| {
            list(&c["envFrom"])
                .iter()
                .any(|e| e["secretRef"]["name"] == "spiegel-s3")
        });
        // The credentials reach exactly the pods that use the store, from the Secret, and
        // those pods may reach it.
        assert_eq!(uses_store, from_secret, "{}", name(resource));
        if uses_store {
            assert_eq!(
                pod["metadata"]["labels"]["spiegel.nl/object-storage"],
                "true",
                "{}",
                name(resource)
            );
        }
    }
    assert!(!production.iter().any(
        |r| r["kind"] == "PersistentVolumeClaim" && r["metadata"]["name"] == "spiegel-reports"
    ));
    // No credential in a ConfigMap.
    for config in production.iter().filter(|r| r["kind"] == "ConfigMap") {
        let text = config["data"].to_string();
        assert!(
            !text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("AWS_ACCESS_KEY_ID"),
            "{}",
            name(config)
        );
    }
    let egress = production
        .iter()
        .find(|r| r["kind"] == "NetworkPolicy" && r["metadata"]["name"] == "spiegel-object-storage")
        .expect("an egress policy for the object store");
    assert_eq!(
        egress["spec"]["podSelector"]["matchLabels"]["spiegel.nl/object-storage"],
        "true"
    );
    // Public addresses only, as for webhooks: the policy must not open the cluster's or a
    // private network's port 443 to the API.
    assert_public_only(egress, "object storage");
}

#[test]
fn production_keeps_the_api_state_in_postgresql_with_its_url_and_password_from_a_secret() {
    let overlays = rendered();
    let api_container = |resources: &[Value]| -> Value {
        let api = resources
            .iter()
            .find(|r| r["metadata"]["name"] == "spiegel-api" && pod(r).is_some())
            .expect("the API workload");
        list(&pod(api).unwrap()["spec"]["containers"])[0].clone()
    };
    for (overlay, resources) in &overlays {
        let container = api_container(resources);
        let variable = |name: &str| {
            list(&container["env"])
                .iter()
                .find(|e| e["name"] == name)
                .cloned()
        };
        if overlay != "production" {
            // The embedded default: the SQLite file on the API's data volume.
            assert!(variable("SPIEGEL_DATABASE_URL").is_none(), "{overlay}");
            continue;
        }
        for (name, key) in [("SPIEGEL_DATABASE_URL", "url"), ("PGPASSWORD", "password")] {
            let entry = variable(name).unwrap_or_else(|| panic!("{name}"));
            assert!(entry["value"].is_null(), "{name} written out: {entry}");
            assert_eq!(
                entry["valueFrom"]["secretKeyRef"],
                serde_json::json!({"name": "spiegel-database", "key": key}),
                "{name}"
            );
        }
        let api = resources
            .iter()
            .find(|r| r["metadata"]["name"] == "spiegel-api" && pod(r).is_some())
            .unwrap();
        assert_eq!(
            pod(api).unwrap()["metadata"]["labels"]["spiegel.nl/database"],
            "true"
        );
        let egress = resources
            .iter()
            .find(|r| r["kind"] == "NetworkPolicy" && r["metadata"]["name"] == "spiegel-database")
            .expect("an egress policy for the database");
        assert_eq!(
            egress["spec"]["podSelector"]["matchLabels"]["spiegel.nl/database"],
            "true"
        );
        let rule = &list(&egress["spec"]["egress"])[0];
        assert_eq!(
            list(&rule["ports"]),
            [serde_json::json!({"protocol": "TCP", "port": 5432})]
        );
        // Only the database's namespace, not the cluster or the internet.
        assert!(
            list(&rule["to"]).iter().all(|to| to["ipBlock"].is_null()
                && to["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    == "postgres"),
            "{rule}"
        );
        // No credential in a ConfigMap.
        for config in resources.iter().filter(|r| r["kind"] == "ConfigMap") {
            let text = config["data"].to_string();
            assert!(
                !text.contains("postgres://") && !text.contains("PGPASSWORD"),
                "{}",
                name(config)
            );
        }
    }
}
