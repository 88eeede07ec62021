//! Typed constructors for cloud inputs and output targets. Each returns a
//! [`CloudLocation`]; [`CloudLocation::new`] stays available for any other provider.

use multiconvert_core::CloudLocation;
use serde_json::Value;

/// The region used when none is given, as the vendor documents.
pub const DEFAULT_S3_REGION: &str = "eu-central-1";

/// An Amazon S3 object. `region` defaults to [`DEFAULT_S3_REGION`].
///
/// ```
/// use multiconvert_online_convert::cloud;
/// let s3 = cloud::amazons3("bucket", "in/report.pdf", None, "AKIAEXAMPLE", "wJalrEXAMPLE", None);
/// assert_eq!(s3.parameters["region"], "eu-central-1");
/// assert!(!format!("{s3:?}").contains("wJalr"));
/// ```
pub fn amazons3(
    bucket: &str,
    file: &str,
    region: Option<&str>,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> CloudLocation {
    let mut location = CloudLocation::new("amazons3")
        .parameter("bucket", bucket)
        .parameter("file", file)
        .parameter("region", region.unwrap_or(DEFAULT_S3_REGION))
        .credential("accesskeyid", access_key_id)
        .credential("secretaccesskey", secret_access_key);
    if let Some(token) = session_token {
        location = location.credential("sessiontoken", token);
    }
    location
}

/// An Azure blob.
pub fn azure(container: &str, file: &str, account_name: &str, account_key: &str) -> CloudLocation {
    CloudLocation::new("azure")
        .parameter("container", container)
        .parameter("file", file)
        .credential("accountname", account_name)
        .credential("accountkey", account_key)
}

/// A file on an FTP server.
pub fn ftp(host: &str, file: &str, username: &str, password: &str) -> CloudLocation {
    CloudLocation::new("ftp")
        .parameter("host", host)
        .parameter("file", file)
        .credential("username", username)
        .credential("password", password)
}

/// A Google Cloud Storage object; `keyfile` is the service account's JSON key.
pub fn googlecloud(project_id: &str, bucket: &str, file: &str, keyfile: Value) -> CloudLocation {
    CloudLocation::new("googlecloud")
        .parameter("projectid", project_id)
        .parameter("bucket", bucket)
        .parameter("file", file)
        .credential("keyfile", keyfile)
}

/// A Google Drive file chosen with the Drive picker (an input only).
pub fn gdrive_picker(file_id: &str, token: &str) -> CloudLocation {
    CloudLocation::new(GDRIVE_PICKER)
        .parameter("file_id", file_id)
        .credential("token", token)
}

/// The provider name of a Drive-picker input, which the API takes as an input *type*.
pub const GDRIVE_PICKER: &str = "gdrive_picker";
