//! The OpenAPI 3.1 document of the API (`schemas/openapi.yaml`), built from the same route
//! list the router serves, so a route cannot exist without its description; a test keeps the
//! file equal to this.

use serde_json::{Value, json};
use spiegel_core::ReportKind;

/// The reports the caller may read.
pub(crate) const REPORTS_ROUTE: &str = "/v1/reports";
/// One report.
pub(crate) const REPORT_ROUTE: &str = "/v1/reports/{id}";
/// A provider's explanation of one of its mirror reports.
pub(crate) const ANNOTATION_ROUTE: &str = spiegel_render::ANNOTATION_ROUTE;
/// A provider sharing one of its mirror reports with the municipality it is about.
pub(crate) const SHARE_ROUTE: &str = "/v1/mirror/{period}/{gemeente}/share";
/// A provider's requests to share, with where each stands.
pub(crate) const SHARES_ROUTE: &str = "/v1/mirror/shares";
/// Uploading a submission.
pub(crate) const SUBMISSIONS_ROUTE: &str = "/v1/submissions";
/// One submission's status and receipt.
pub(crate) const SUBMISSION_ROUTE: &str = "/v1/submissions/{id}";
/// The caller's feed of releases.
pub(crate) const FEED_ROUTE: &str = "/v1/feed";
/// The caller's webhook subscriptions.
pub(crate) const WEBHOOKS_ROUTE: &str = "/v1/webhooks";
/// One webhook subscription.
pub(crate) const WEBHOOK_ROUTE: &str = "/v1/webhooks/{id}";
/// Every route of the API port, as the router and the document name them.
pub const API_ROUTES: &[&str] = &[
    SUBMISSIONS_ROUTE,
    SUBMISSION_ROUTE,
    FEED_ROUTE,
    REPORTS_ROUTE,
    REPORT_ROUTE,
    ANNOTATION_ROUTE,
    SHARE_ROUTE,
    SHARES_ROUTE,
    WEBHOOKS_ROUTE,
    WEBHOOK_ROUTE,
];

/// A period as the API takes it: a half-year or a quarter.
const PERIOD_PATTERN: &str = "^20[0-9]{2}-(H[12]|Q[1-4])$";

/// The document.
pub fn openapi() -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    // The retry window as the delivery code has it, so the document cannot drift from it.
    let retry_hours = (crate::WebhookConfig::default().retry_for.as_secs() / 3600).to_string();
    // From the narrowest reader to the widest, as the document has always listed them.
    let kinds: Vec<&str> = ReportKind::ALL.iter().rev().map(|k| k.as_str()).collect();
    let mut paths = serde_json::Map::new();
    for route in API_ROUTES {
        let operation = match *route {
            SUBMISSIONS_ROUTE => json!({"post": {
                "operationId": "uploadSubmission",
                "summary": "Upload the provider's complete submission for one period (docs/submission.md)",
                "description": "The body is streamed into validation: every limit (size, rows, record and field length, gzip expansion) is decided while it arrives. The same file again (in the same format) is answered with the same id and changes nothing. A later accepted submission for the same period replaces the earlier one. A submission without rows withdraws the period only with withdraw=true (the answer then says withdrawn: true); without it an empty file is refused with 422 withdrawal_not_confirmed. Receipts list at most 100 findings per code and 1,000 in all; issue_counts gives every code's total. Only providers submit.",
                "parameters": [
                    {"name": "period", "in": "query", "required": true, "description": "2026-H1, 2026-H2 or a quarter such as 2026-Q3", "schema": {"type": "string", "maxLength": 7, "pattern": PERIOD_PATTERN}},
                    {"name": "withdraw", "in": "query", "required": false, "description": "true confirms that a submission without rows withdraws everything delivered for the period", "schema": {"type": "boolean"}},
                    {"name": "Idempotency-Key", "in": "header", "required": false, "description": "Ties a retry to its first attempt; reusing it for another file is refused, and so is a second upload with the key while the first is in progress (409)", "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}},
                    {"name": "Content-Encoding", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 8, "enum": ["gzip", "identity"]}}
                ],
                "requestBody": {"required": true, "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "contentMediaType": "application/vnd.apache.parquet"}}
                }},
                "responses": {
                    "202": {"description": "Accepted and on its way to the reports", "headers": {"Location": {"description": "The submission's status", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submission"}}}, "links": {"GetSubmission": {"operationId": "getSubmission", "parameters": {"id": "$response.body#/id"}}}},
                    "400": error,
                    "401": error,
                    "404": error,
                    "409": error,
                    "413": error,
                    "415": error,
                    "422": {"description": "Rejected by validation (the receipt says why), an Idempotency-Key reused for another file, or an empty submission without withdraw=true", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Submission"}, {"$ref": "#/components/schemas/Error"}]}}}},
                    "503": error,
                }
            }}),
            SUBMISSION_ROUTE => json!({"get": {
                "operationId": "getSubmission",
                "summary": "A submission's status and receipt",
                "description": "Only the provider that uploaded it sees it; for anyone else it does not exist.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
                "responses": {
                    "200": {"description": "The submission", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submission"}}}},
                    "401": error,
                    "404": error,
                    "503": error,
                }
            }}),
            FEED_ROUTE => json!({"get": {
                "operationId": "readFeed",
                "summary": "The releases that changed a report the caller may read, in order",
                "description": "Pass the cursor of the previous answer as after; with wait the request is held (long poll) until such a release arrives or wait seconds pass.",
                "parameters": [
                    {"name": "after", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 18, "pattern": "^[0-9]{1,18}$"}},
                    {"name": "wait", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": crate::feed::MAX_WAIT_SECONDS}}
                ],
                "responses": {
                    "200": {"description": "Entries after the cursor (possibly none) and the cursor to pass next", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Feed"}}}},
                    "400": error,
                    "401": error,
                    "404": {"description": "A cursor never handed out, or a caller without a feed (an operator)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "503": error,
                }
            }}),
            WEBHOOKS_ROUTE => json!({
                "post": {
                    "operationId": "createWebhook",
                    "summary": "Receive every feed entry at a URL, signed (HMAC-SHA256 over timestamp and body)",
                    "description": format!("The answer shows the subscription's secret once. Each POST carries Spiegel-Delivery (the entry's id, for deduplication) and Spiegel-Signature: t=UNIX,v1=HEX with HEX = HMAC-SHA256(secret, t + '.' + body). Failed deliveries are retried with back-off for {retry_hours} hours."),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookRequest"}}}},
                    "responses": {
                        "201": {"description": "Registered", "headers": {"Location": {"description": "The subscription", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Webhook"}}}, "links": {"DeleteWebhook": {"operationId": "deleteWebhook", "parameters": {"id": "$response.body#/id"}}}},
                        "401": error,
                        "404": error,
                        "413": error,
                        "422": error,
                        "503": error,
                    }
                },
                "get": {
                    "operationId": "listWebhooks",
                    "summary": "The caller's webhook subscriptions and how their delivery goes",
                    "responses": {
                        "200": {"description": "The subscriptions (without secrets)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookList"}}}},
                        "401": error,
                        "503": error,
                    }
                }
            }),
            WEBHOOK_ROUTE => json!({"delete": {
                "operationId": "deleteWebhook",
                "summary": "Stop a webhook subscription",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
                "responses": {
                    "204": {"description": "Removed"},
                    "401": error,
                    "404": error,
                    "503": error,
                }
            }}),
            REPORTS_ROUTE => json!({"get": {
                "operationId": "listReports",
                "summary": "The reports of the current release the caller may read",
                "description": "A provider sees its own mirror reports; a municipality its own report, its jeugdzorgregio's, the national one and the mirror reports shared with it; an operator none.",
                "responses": {
                    "200": {"description": "The readable reports", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportList"}}}},
                    "401": error,
                    "503": error,
                }
            }}),
            REPORT_ROUTE => json!({"get": {
                "operationId": "getReport",
                "summary": "One report: Parquet, or its HTML page with the suffix .html or Accept: text/html",
                "description": "Another tenant's report answers 404, exactly as a report that does not exist. Pages exist for mirror and municipality reports; Accept-Language: en gives the English variant.",
                "parameters": [{
                    "name": "id", "in": "path", "required": true,
                    "description": "mirror.PERIOD.AGB.GMxxxx, municipality.PERIOD.GMxxxx, region.PERIOD.REGION or national.PERIOD, optionally followed by .html",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200}
                }],
                "responses": {
                    "200": {"description": "The report", "headers": {"ETag": {"description": "SHA-256 of the Parquet file", "schema": {"type": "string"}}}, "content": {
                        "application/vnd.apache.parquet": {"schema": {"type": "string", "contentMediaType": "application/vnd.apache.parquet"}},
                        "text/html": {"schema": {"type": "string"}}
                    }},
                    "401": error,
                    "404": error,
                    "503": error,
                }
            }}),
            ANNOTATION_ROUTE => json!({"post": {
                "operationId": "annotateMirrorReport",
                "summary": "Attach the provider's explanation (\"het verhaal achter de cijfers\") to its mirror report",
                "description": "Plain text of at most 4000 characters, shown on the report's page as written, never as markup. An empty text removes the explanation. Only the provider of the mirror report may call this; for anyone else the report does not exist.",
                "parameters": [
                    {"name": "period", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 7, "pattern": PERIOD_PATTERN}},
                    {"name": "gemeente", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 6, "pattern": "^GM[0-9]{4}$"}}
                ],
                "requestBody": {"required": true, "content": {"text/plain": {"schema": {"type": "string", "maxLength": 4000}}}},
                "responses": {
                    "200": {"description": "Stored; the page shows it from now on", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Annotation"}}}},
                    "400": error,
                    "401": error,
                    "404": error,
                    "413": error,
                    "422": error,
                    "503": error,
                }
            }}),
            SHARE_ROUTE => json!({"post": {
                "operationId": "shareMirrorReport",
                "summary": "Ask to share (or stop sharing) the caller's mirror report with the municipality it is about",
                "description": "A request takes effect only when it is safe (NB-4, docs/release-rules.md): with it, the municipality's providers that do not share must number 0 or at least the contributor minimum, with none dominant, against every release of the period the municipality holds. Otherwise it is pending (`state: pending`, with `others_needed`: how many more of the municipality's providers must ask), nothing becomes readable, and pending requests take effect together once they are safe. The municipality can read the report once the release that puts the share in effect is published; withdrawing (`shared: false`) holds at once, and a share that took effect keeps counting for the protection of the other providers. Only the provider of the mirror report may call this; for anyone else the report does not exist.",
                "parameters": [
                    {"name": "period", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 7, "pattern": PERIOD_PATTERN}},
                    {"name": "gemeente", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 6, "pattern": "^GM[0-9]{4}$"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ShareRequest"}}}},
                "responses": {
                    "200": {"description": "Stored, with where the request stands", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Share"}}}},
                    "401": error,
                    "404": error,
                    "413": error,
                    "422": error,
                    "503": error,
                }
            }}),
            SHARES_ROUTE => json!({"get": {
                "operationId": "listShareRequests",
                "summary": "The caller's requests to share its mirror reports, each with where it stands",
                "description": "Only for providers; for anyone else the list does not exist.",
                "responses": {
                    "200": {"description": "The requests", "content": {"application/json": {"schema": {"type": "object", "required": ["shares"], "properties": {
                        "shares": {"type": "array", "items": {"$ref": "#/components/schemas/Share"}}
                    }}}}},
                    "401": error,
                    "404": error,
                    "503": error,
                }
            }}),
            _ => json!({}),
        };
        paths.insert((*route).to_owned(), bounded(operation));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Spiegel API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The trusted third party for Dutch youth-care outcome data: aggregated, non-benchmarking reports for the providers and municipalities they belong to (docs/serving.md).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"clientCertificate": []}],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `spiegel tokens create`, standing for one provider, municipality or operator."},
                "clientCertificate": {"type": "mutualTLS", "description": "A client certificate from the client CA the server is configured with, whose subject is registered with `spiegel certs add` for one provider, municipality or operator. Presented together with a bearer token, both must stand for the same principal."},
            },
            "responses": {"Error": {"description": "An error, in words an administrator can act on", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string", "enum": crate::api_error::ApiError::CODES},
                    "message": {"type": "string"}
                }},
                "Annotation": {"type": "object", "required": ["period", "municipality", "characters"], "properties": {
                    "period": {"type": "string"},
                    "municipality": {"type": "string"},
                    "characters": {"type": "integer", "minimum": 0, "description": "0 when the explanation was removed"}
                }},
                "ShareRequest": {"type": "object", "required": ["shared"], "properties": {
                    "shared": {"type": "boolean"}
                }},
                "Share": {"type": "object", "required": ["period", "municipality", "shared", "state", "message"], "properties": {
                    "period": {"type": "string"},
                    "municipality": {"type": "string"},
                    "shared": {"type": "boolean", "description": "Whether the share is in effect"},
                    "state": {"type": "string", "enum": ["in_effect", "pending", "withdrawn"]},
                    "others_needed": {"type": "integer", "minimum": 0, "description": "For a pending request: how many more of the municipality's providers must ask to share"},
                    "message": {"type": "string", "description": "Where the request stands, in Dutch and English"}
                }},
                "Submission": {"type": "object", "required": ["id", "status", "period", "format", "sha256", "received", "receipt"], "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["rejected", "processing", "published", "superseded"]},
                    "release": {"type": ["string", "null"], "description": "The release computed from it, when published"},
                    "period": {"type": "string"},
                    "format": {"type": "string", "enum": ["csv", "jsonl", "parquet"]},
                    "sha256": {"type": "string", "description": "SHA-256 of the (decompressed) file"},
                    "received": {"type": "string"},
                    "withdrawn": {"type": "boolean", "description": "An accepted submission without rows, which withdrew the period"},
                    "receipt": {"type": "object", "description": "Row counts, the findings by line and column in Dutch and English (at most 100 per code, 1,000 in all) and every code's total"}
                }},
                "Feed": {"type": "object", "required": ["entries", "cursor"], "properties": {
                    "entries": {"type": "array", "items": {"$ref": "#/components/schemas/FeedEntry"}},
                    "cursor": {"type": "string"}
                }},
                "FeedEntry": {"type": "object", "required": ["cursor", "release", "reports"], "properties": {
                    "cursor": {"type": "string"},
                    "release": {"type": "string"},
                    "reports": {"type": "array", "items": {"type": "object", "required": ["id", "change", "kind", "period", "content_sha256", "href"], "properties": {
                        "id": {"type": "string"},
                        "change": {"type": "string", "enum": ["new", "changed", "withdrawn"]},
                        "kind": {"type": "string", "enum": kinds},
                        "period": {"type": "string"},
                        "municipality": {"type": ["string", "null"]},
                        "content_sha256": {"type": "string"},
                        "href": {"type": "string"}
                    }}}
                }},
                "WebhookRequest": {"type": "object", "required": ["url"], "additionalProperties": false, "properties": {
                    "url": {"type": "string", "maxLength": 2000},
                    "after": {"type": "string", "maxLength": 18, "pattern": "^[0-9]{1,18}$", "description": "Deliver the entries after this feed cursor (default: from now on)"}
                }},
                "Webhook": {"type": "object", "required": ["id", "url", "created", "cursor"], "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string"},
                    "created": {"type": "string"},
                    "cursor": {"type": "string", "description": "Delivered up to this feed cursor"},
                    "secret": {"type": "string", "description": "Only in the answer to its registration"},
                    "failing": {"type": ["object", "null"]},
                    "disabled": {"type": ["object", "null"], "description": "Set when the subscription was disabled (its token was revoked); it delivers nothing more"}
                }},
                "WebhookList": {"type": "object", "required": ["webhooks"], "properties": {
                    "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}
                }},
                "ReportList": {"type": "object", "required": ["release", "reports"], "properties": {
                    "release": {"type": ["string", "null"], "description": "The current release, null before the first"},
                    "reports": {"type": "array", "items": {"$ref": "#/components/schemas/Report"}}
                }},
                "Report": {"type": "object", "required": ["id", "kind", "period", "sha256", "content_sha256", "rows", "suppressed"], "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string", "enum": kinds},
                    "period": {"type": "string"},
                    "municipality": {"type": "string"},
                    "sha256": {"type": "string"},
                    "content_sha256": {"type": "string"},
                    "rows": {"type": "integer", "minimum": 0},
                    "suppressed": {"type": "integer", "minimum": 0}
                }}
            }
        }
    })
}

/// Every operation answers a parameter outside its bounds with 400 and a request target over
/// the server's limit with 414, before anything is recorded or stored.
fn bounded(mut operation: Value) -> Value {
    if let Some(methods) = operation.as_object_mut() {
        for method in methods.values_mut() {
            if let Some(responses) = method["responses"].as_object_mut() {
                for status in ["400", "414"] {
                    responses
                        .entry(status)
                        .or_insert_with(|| json!({"$ref": "#/components/responses/Error"}));
                }
            }
        }
    }
    operation
}

/// `value` as block-style YAML (keys in the document's order, strings always quoted).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(&mut out, value, 0, false);
    out
}

fn write_yaml(out: &mut String, value: &Value, indent: usize, in_list: bool) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (i, (key, item)) in map.iter().enumerate() {
                // The first key of a list item shares the line with its "- ".
                if !(in_list && i == 0) {
                    out.push_str(&pad);
                }
                out.push_str(&scalar(&Value::String(key.clone())));
                out.push(':');
                block(out, item, indent + 1);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push_str("- ");
                match item {
                    Value::Object(m) if !m.is_empty() => write_yaml(out, item, indent + 1, true),
                    _ => {
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn block(out: &mut String, item: &Value, indent: usize) {
    match item {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_yaml(out, item, indent, false);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_yaml(out, item, indent, false);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(item));
            out.push('\n');
        }
    }
}

/// A scalar in flow style: JSON's quoting is valid YAML.
fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keeps_structure() {
        let value = json!({"a": {"b": [1, {"c": "d", "e": []}], "f": "x: y"}});
        assert_eq!(
            to_yaml(&value),
            "\"a\":\n  \"b\":\n    - 1\n    - \"c\": \"d\"\n      \"e\": []\n  \"f\": \"x: y\"\n"
        );
    }

    /// Every string the API accepts (parameters, and the string fields of JSON bodies) has a
    /// `maxLength` or an `enum`: the server enforces them before recording anything, so an
    /// unbounded one would be an unbounded audit record (issue 26).
    #[test]
    fn every_string_the_api_accepts_is_bounded() {
        let document = openapi();
        let schemas = &document["components"]["schemas"];
        let bounded = |schema: &Value| {
            schema["type"] != "string" || schema["maxLength"].is_u64() || schema["enum"].is_array()
        };
        let mut checked = 0;
        for (route, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    assert!(
                        bounded(&parameter["schema"]),
                        "{method} {route}: {}",
                        parameter["name"]
                    );
                    checked += 1;
                }
                let json = &operation["requestBody"]["content"]["application/json"]["schema"];
                if let Some(reference) = json["$ref"].as_str() {
                    let name = reference.rsplit('/').next().unwrap();
                    for (field, schema) in schemas[name]["properties"].as_object().unwrap() {
                        assert!(bounded(schema), "{method} {route}: {name}.{field}");
                        checked += 1;
                    }
                }
                let text = &operation["requestBody"]["content"]["text/plain"]["schema"];
                assert!(text.is_null() || bounded(text), "{method} {route}: body");
                for status in ["400", "414"] {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{method} {route}"
                    );
                }
            }
        }
        assert!(checked >= 10, "{checked}");
    }

    #[test]
    fn docs_and_document_give_the_retry_window_the_delivery_code_has() {
        let hours = crate::WebhookConfig::default().retry_for.as_secs() / 3600;
        let serving = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/serving.md"
        ))
        .unwrap();
        let serving = serving.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            serving.contains(&format!("jitter for {hours} hours")),
            "docs/serving.md does not say {hours} hours"
        );
        let document = openapi().to_string();
        assert!(
            document.contains(&format!("back-off for {hours} hours")),
            "the OpenAPI document does not say {hours} hours"
        );
        for other in ["24 hours", "at least"] {
            assert!(
                !document.contains(&format!("back-off for {other}")),
                "{other}"
            );
        }
    }

    #[test]
    fn schemas_openapi_yaml_is_the_document_the_server_serves() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.yaml");
        let expected = format!(
            "# Generated from crates/spiegel-serve/src/openapi.rs; a test keeps it equal.\n{}",
            to_yaml(&openapi())
        );
        if std::env::var_os("SPIEGEL_BLESS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "schemas/openapi.yaml is out of date: SPIEGEL_BLESS=1 cargo test -p spiegel-serve"
        );
        let document = openapi();
        let paths = document["paths"].as_object().unwrap();
        let mut routes = API_ROUTES.to_vec();
        routes.sort_unstable();
        assert_eq!(paths.keys().map(String::as_str).collect::<Vec<_>>(), routes);
        for route in API_ROUTES {
            let operations = paths[*route].as_object().unwrap();
            assert!(!operations.is_empty(), "{route}");
            assert!(
                operations.values().all(|o| o["responses"].is_object()),
                "{route}"
            );
        }
    }
}
