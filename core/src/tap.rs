//! A tap on the HTTP path every provider shares: each exchange a provider makes, handed whole to
//! an [`HttpTap`] — what record mode and the live contract check are built on.
//!
//! A tapped client buffers each response body (up to [`MAX_TAPPED_BODY`]) before the provider
//! reads it, so a tap is for recording and checking, not for serving production traffic. The
//! exchange holds the raw traffic, secrets included: a tap must scrub before it writes anything
//! (the conformance crate's recorder does), and [`Exchange`]'s `Debug` shows neither query,
//! headers nor bodies.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use multiconvert_core::http::HttpConfig;
//! use multiconvert_core::tap::{Exchange, HttpTap};
//!
//! #[derive(Default)]
//! struct Count(Mutex<usize>);
//! impl HttpTap for Count {
//!     fn exchange(&self, _exchange: Exchange) {
//!         *self.0.lock().unwrap() += 1;
//!     }
//! }
//! let config = HttpConfig::default().with_tap(Arc::new(Count::default()));
//! # let _ = config;
//! ```

use std::fmt;

use bytes::Bytes;
use http::HeaderMap;

/// The largest response body a tapped client buffers (record mode is for scenarios, whose
/// bodies are small).
pub const MAX_TAPPED_BODY: usize = 64 << 20;

/// A request body as it was sent.
#[derive(Clone, PartialEq, Eq)]
pub enum TappedBody {
    /// No body.
    Empty,
    /// The whole body (forms, JSON, small uploads).
    Bytes(Bytes),
    /// A streamed body (a file, a multipart form), not kept: it is sent as it is read.
    Streamed,
}

impl fmt::Debug for TappedBody {
    /// The length only: a body may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TappedBody::Empty => f.write_str("Empty"),
            TappedBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            TappedBody::Streamed => f.write_str("Streamed"),
        }
    }
}

/// One request and the answer to it.
#[derive(Clone)]
#[non_exhaustive]
pub struct Exchange {
    /// The method.
    pub method: http::Method,
    /// The whole URL, query included.
    pub url: url::Url,
    /// The request's headers as sent (defaults the HTTP stack adds on the wire are not here).
    pub request_headers: HeaderMap,
    /// The request's body.
    pub request_body: TappedBody,
    /// The answer's status.
    pub status: http::StatusCode,
    /// The answer's headers.
    pub response_headers: HeaderMap,
    /// The answer's body.
    pub response_body: Bytes,
}

impl fmt::Debug for Exchange {
    /// Method, path and status only: the rest may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("method", &self.method)
            .field("path", &self.url.path())
            .field("status", &self.status.as_u16())
            .finish_non_exhaustive()
    }
}

/// Receives every exchange of the clients it is installed on
/// ([`HttpConfig::with_tap`](crate::http::HttpConfig::with_tap)), in the order they complete.
/// Requests that get no answer (a refused connection, a timeout) are not exchanges.
pub trait HttpTap: Send + Sync {
    /// One exchange, answered.
    fn exchange(&self, exchange: Exchange);
}

/// Sends `request` on `client`, hands the exchange to `tap`, and gives the provider an answer
/// it reads as if it came from the wire.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
    tap: &dyn HttpTap,
) -> Result<reqwest::Response, reqwest::Error> {
    let request = request.build()?;
    let method = request.method().clone();
    let url = request.url().clone();
    let request_headers = request.headers().clone();
    let request_body = match request.body() {
        None => TappedBody::Empty,
        Some(body) => match body.as_bytes() {
            Some([]) => TappedBody::Empty,
            Some(bytes) => TappedBody::Bytes(Bytes::copy_from_slice(bytes)),
            None => TappedBody::Streamed,
        },
    };
    let response = client.execute(request).await?;
    let status = response.status();
    let version = response.version();
    let response_headers = response.headers().clone();
    let mut body = Vec::new();
    let mut stream = response;
    while let Some(chunk) = stream.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TAPPED_BODY {
            // Handed on cut: the provider's own limits and checks then see a short body.
            break;
        }
    }
    let response_body = Bytes::from(body);
    let mut rebuilt = http::Response::new(response_body.clone());
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = response_headers.clone();
    tap.exchange(Exchange {
        method,
        url,
        request_headers,
        request_body,
        status,
        response_headers,
        response_body,
    });
    Ok(reqwest::Response::from(rebuilt))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::error::Operation;
    use crate::http::{HttpClient, HttpConfig, RequestSpec};

    #[derive(Default)]
    struct Keep(Mutex<Vec<Exchange>>);
    impl HttpTap for Keep {
        fn exchange(&self, exchange: Exchange) {
            self.0.lock().unwrap().push(exchange);
        }
    }

    #[tokio::test]
    async fn a_tapped_client_sees_the_whole_exchange_and_the_provider_the_same_answer() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(202)
                    .insert_header("retry-after", "3")
                    .set_body_string("{\"JobId\":\"j1\"}"),
            )
            .mount(&server)
            .await;
        let keep = Arc::new(Keep::default());
        let client = HttpClient::new("test", HttpConfig::default().with_tap(keep.clone())).unwrap();
        let url = format!("{}/convert?Secret=hunter2-secret", server.uri());
        let response = client
            .send(RequestSpec::new(Operation::Submit).secret(true), |c| {
                Ok(c.post(&url)
                    .header("authorization", "Bearer hunter2-secret")
                    .body("File=a"))
            })
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        assert_eq!(response.headers()["retry-after"], "3");
        assert_eq!(response.text().await.unwrap(), "{\"JobId\":\"j1\"}");

        let exchanges = keep.0.lock().unwrap();
        let e = &exchanges[0];
        assert_eq!(e.method, http::Method::POST);
        assert_eq!(
            e.request_body,
            TappedBody::Bytes(Bytes::from_static(b"File=a"))
        );
        assert_eq!(e.request_headers["authorization"], "Bearer hunter2-secret");
        assert_eq!(e.response_body.as_ref(), b"{\"JobId\":\"j1\"}");
        let shown = format!("{e:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("/convert") && shown.contains("202"),
            "{shown}"
        );
    }
}
