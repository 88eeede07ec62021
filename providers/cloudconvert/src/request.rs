//! Pure translation of a [`JobRequest`] into CloudConvert's task graph: no I/O here.

use multiconvert_core::{Error, ErrorKind, Input, InputSource, JobRequest, Operation, Result};
use serde_json::{json, Map, Value};

use crate::NAME;

/// The name of the task that imports input `i` (0-based): `import-1`, `import-2`, …
pub fn import_task(i: usize) -> String {
    format!("import-{}", i + 1)
}

/// The name of the task that converts input `i` with conversion `j`: `convert-1-1`, …
pub fn convert_task(i: usize, j: usize) -> String {
    format!("convert-{}-{}", i + 1, j + 1)
}

/// The name of the task that makes every result downloadable.
pub const EXPORT_TASK: &str = "export";

/// Whether the input's bytes go up through an `import/upload` task's form.
pub fn needs_upload(input: &Input) -> bool {
    matches!(
        input.source,
        InputSource::Path(_) | InputSource::Bytes(_) | InputSource::Reader(_)
    )
}

fn refused(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, NAME, Operation::Submit, message)
}

/// The import task for `input`.
pub fn import_json(input: &Input) -> Result<Value> {
    let filename = input.effective_filename();
    let mut task = match &input.source {
        InputSource::Remote(url) => json!({"operation": "import/url", "url": url.as_str()}),
        InputSource::Path(_) | InputSource::Bytes(_) | InputSource::Reader(_) => {
            json!({"operation": "import/upload"})
        }
        InputSource::Base64(data) => {
            // A `data:` URL's payload, or the text as given.
            let payload = data
                .rsplit_once("base64,")
                .map_or(data.as_str(), |(_, d)| d);
            let name = filename.clone().ok_or_else(|| {
                refused(
                    ErrorKind::InvalidInput,
                    "a base64 input needs a filename (CloudConvert's import/base64 requires one)",
                )
            })?;
            json!({"operation": "import/base64", "file": payload.trim(), "filename": name})
        }
        InputSource::Cloud(location) => {
            let provider = location.provider.to_ascii_lowercase();
            if !provider
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(refused(
                    ErrorKind::InvalidInput,
                    "a cloud input's provider is a plain name (s3, azure/blob is written azure-blob)",
                ));
            }
            let mut task = Map::new();
            task.insert("operation".into(), json!(format!("import/{provider}")));
            for (k, v) in &location.parameters {
                task.insert(k.clone(), v.clone());
            }
            for (k, v) in location.credentials.expose() {
                task.insert(k.clone(), v.clone());
            }
            Value::Object(task)
        }
        InputSource::FileId(_) => {
            return Err(refused(
                ErrorKind::Unsupported,
                "CloudConvert takes no vendor file ids: send the file, a URL or a cloud location",
            ))
        }
        _ => {
            return Err(refused(
                ErrorKind::Unsupported,
                "this kind of input is not supported by CloudConvert",
            ))
        }
    };
    if let (Some(name), Some(obj)) = (filename, task.as_object_mut()) {
        if matches!(input.source, InputSource::Remote(_)) {
            obj.insert("filename".into(), json!(name));
        }
    }
    Ok(task)
}

/// The body of `POST /jobs` for `request`, tagged `tag`: one import task per input, one
/// `convert` task per input and conversion (options flattened into it, `input_format` from the
/// request's source format or else the input's extension), a cloud export per output target, and one `export/url` task
/// over every conversion.
pub fn job_body(request: &JobRequest, tag: &str) -> Result<Value> {
    if request.inputs.is_empty() || request.conversions.is_empty() {
        return Err(refused(
            ErrorKind::InvalidInput,
            "a job needs at least one input and one conversion",
        ));
    }
    let mut tasks = Map::new();
    for (i, input) in request.inputs.iter().enumerate() {
        tasks.insert(import_task(i), import_json(input)?);
    }
    let mut converted = Vec::new();
    for (i, input) in request.inputs.iter().enumerate() {
        for (j, conversion) in request.conversions.iter().enumerate() {
            let name = convert_task(i, j);
            let mut task = Map::new();
            for (k, v) in &conversion.options {
                task.insert(k.clone(), v.clone());
            }
            // What the graph needs wins over an option of the same name.
            task.insert("operation".into(), json!("convert"));
            task.insert("input".into(), json!(import_task(i)));
            task.insert(
                "output_format".into(),
                json!(conversion.target.to_ascii_lowercase()),
            );
            // What CloudConvert would take from the file name anyway, said outright: the
            // request names one job whatever the input's route.
            if let Some(source) = conversion
                .source_format
                .clone()
                .or_else(|| input.extension())
            {
                task.insert("input_format".into(), json!(source.to_ascii_lowercase()));
            }
            for (k, target) in conversion.output_targets.iter().enumerate() {
                let mut export = Map::new();
                export.insert(
                    "operation".into(),
                    json!(format!("export/{}", target.provider.to_ascii_lowercase())),
                );
                export.insert("input".into(), json!(name));
                for (key, v) in &target.parameters {
                    export.insert(key.clone(), v.clone());
                }
                for (key, v) in target.credentials.expose() {
                    export.insert(key.clone(), v.clone());
                }
                tasks.insert(format!("{name}-to-{}", k + 1), Value::Object(export));
            }
            tasks.insert(name.clone(), Value::Object(task));
            converted.push(name);
        }
    }
    tasks.insert(
        EXPORT_TASK.into(),
        json!({"operation": "export/url", "input": converted}),
    );
    let mut body = Map::new();
    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    body.insert("tasks".into(), Value::Object(tasks));
    body.insert("tag".into(), json!(tag));
    if let Some(url) = &request.callback {
        body.insert("webhook_url".into(), json!(url.as_str()));
    }
    Ok(Value::Object(body))
}

/// The filename an upload sends for `input`: its own name's last component, else `file`.
pub fn upload_filename(input: &Input) -> String {
    input
        .effective_filename()
        .map(|n| multiconvert_core::safe_filename(&n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "file".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use multiconvert_core::{CloudLocation, Conversion};

    #[test]
    fn a_request_becomes_a_graph_of_named_tasks() {
        let request = JobRequest::new(
            Input::remote("https://example.com/in/report.docx".parse().unwrap()),
            Conversion::to("PDF").option("pages", "1-2"),
        )
        .input(Input::bytes(b"x".to_vec(), "notes.txt"))
        .conversion(Conversion::to("png").from("DOCX"));
        let body = job_body(&request, "tag-1").unwrap();
        let tasks = &body["tasks"];
        assert_eq!(tasks["import-1"]["operation"], "import/url");
        assert_eq!(tasks["import-1"]["filename"], "report.docx");
        assert_eq!(tasks["import-2"], json!({"operation": "import/upload"}));
        assert_eq!(
            tasks["convert-1-1"],
            json!({"operation": "convert", "input": "import-1", "output_format": "pdf", "input_format": "docx", "pages": "1-2"})
        );
        assert_eq!(tasks["convert-2-2"]["input_format"], "docx");
        assert_eq!(
            tasks["export"],
            json!({"operation": "export/url", "input": ["convert-1-1", "convert-1-2", "convert-2-1", "convert-2-2"]})
        );
        assert_eq!(body["tag"], "tag-1");
        assert!(body.get("webhook_url").is_none());
    }

    #[test]
    fn cloud_inputs_and_targets_carry_their_credentials_into_the_body_only() {
        let s3 = CloudLocation::new("s3")
            .parameter("bucket", "b")
            .parameter("region", "eu-west-1")
            .credential("access_key_id", "AKIA-test")
            .credential("secret_access_key", "mc-fake-s3-secret");
        let request = JobRequest::new(
            Input::cloud(s3.clone()),
            Conversion::to("pdf").output_target(s3),
        );
        let body = job_body(&request, "t").unwrap();
        assert_eq!(body["tasks"]["import-1"]["operation"], "import/s3");
        assert_eq!(
            body["tasks"]["import-1"]["secret_access_key"],
            "mc-fake-s3-secret"
        );
        assert_eq!(body["tasks"]["convert-1-1-to-1"]["operation"], "export/s3");
        assert_eq!(body["tasks"]["convert-1-1-to-1"]["input"], "convert-1-1");
        assert!(!format!("{request:?}").contains("mc-fake-s3-secret"));
    }

    #[test]
    fn inputs_cloudconvert_cannot_take_are_refused_before_sending() {
        let request = JobRequest::new(Input::file_id("abc"), Conversion::to("pdf"));
        assert_eq!(
            job_body(&request, "t").unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        let mut nameless = JobRequest::new(Input::base64("QUJD", "a.txt"), Conversion::to("pdf"));
        nameless.inputs[0].filename = None;
        assert!(job_body(&nameless, "t").is_err());
    }
}
