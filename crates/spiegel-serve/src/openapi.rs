//! The OpenAPI 3.1 document of the API (`schemas/openapi.yaml`), built from the same route
//! list the router serves, so a route cannot exist without its description; a test keeps the
//! file equal to this.

use serde_json::{Value, json};

/// The reports the caller may read.
pub(crate) const REPORTS_ROUTE: &str = "/v1/reports";
/// One report.
pub(crate) const REPORT_ROUTE: &str = "/v1/reports/{id}";
/// A provider's explanation of one of its mirror reports.
pub(crate) const ANNOTATION_ROUTE: &str = "/v1/mirror/{period}/{gemeente}/annotation";
/// A provider sharing one of its mirror reports with the municipality it is about.
pub(crate) const SHARE_ROUTE: &str = "/v1/mirror/{period}/{gemeente}/share";
/// Every route of the API port, as the router and the document name them.
pub const API_ROUTES: &[&str] = &[REPORTS_ROUTE, REPORT_ROUTE, ANNOTATION_ROUTE, SHARE_ROUTE];

/// The document.
pub fn openapi() -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    let mut paths = serde_json::Map::new();
    for route in API_ROUTES {
        let operation = match *route {
            REPORTS_ROUTE => json!({"get": {
                "operationId": "listReports",
                "summary": "The reports of the current release the caller may read",
                "description": "A provider sees its own mirror reports; a municipality its own report, its jeugdzorgregio's, the national one and the mirror reports shared with it; an operator none.",
                "responses": {
                    "200": {"description": "The readable reports", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportList"}}}},
                    "401": error,
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
                    {"name": "period", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 20}},
                    {"name": "gemeente", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 20}}
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
                "summary": "Share (or stop sharing) the caller's mirror report with the municipality it is about",
                "description": "The municipality can read the report from now on (or no longer). Its own aggregated figures keep the protection they were published with until the next release. Only the provider of the mirror report may call this; for anyone else the report does not exist.",
                "parameters": [
                    {"name": "period", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 20}},
                    {"name": "gemeente", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 20}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ShareRequest"}}}},
                "responses": {
                    "200": {"description": "Stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Share"}}}},
                    "401": error,
                    "404": error,
                    "413": error,
                    "422": error,
                    "503": error,
                }
            }}),
            _ => json!({}),
        };
        paths.insert((*route).to_owned(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Spiegel API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The trusted third party for Dutch youth-care outcome data: aggregated, non-benchmarking reports for the providers and municipalities they belong to (SPEC §10).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token from `spiegel tokens create`, standing for one provider, municipality or operator."}},
            "responses": {"Error": {"description": "An error, in words an administrator can act on", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"},
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
                "Share": {"type": "object", "required": ["period", "municipality", "shared"], "properties": {
                    "period": {"type": "string"},
                    "municipality": {"type": "string"},
                    "shared": {"type": "boolean"}
                }},
                "ReportList": {"type": "object", "required": ["release", "reports"], "properties": {
                    "release": {"type": ["string", "null"], "description": "The current release, null before the first"},
                    "reports": {"type": "array", "items": {"$ref": "#/components/schemas/Report"}}
                }},
                "Report": {"type": "object", "required": ["id", "kind", "period", "sha256", "content_sha256", "rows", "suppressed"], "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string", "enum": ["mirror", "municipality", "region", "national"]},
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
            assert_eq!(operations.len(), 1, "{route}");
            assert!(
                operations.values().all(|o| o["responses"].is_object()),
                "{route}"
            );
        }
    }
}
