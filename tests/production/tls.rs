//! TLS and mutual TLS with certificates made here: a CA, a server certificate for `localhost`
//! and 127.0.0.1, a client certificate of that CA, and an unrelated CA with its own client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use segmenter::api::pb::segmentation_service_client::SegmentationServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::*;

/// A certificate and its private key, PEM.
#[derive(Clone)]
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, &self.key)
    }
}

struct Pki {
    ca: String,
    server: Pair,
    client: Pair,
    other_ca: String,
    other_client: Pair,
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "Segmenter tests");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert.pem(), Issuer::new(params, key))
}

fn new_leaf(
    names: &[&str],
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'static, KeyPair>,
) -> Pair {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    Pair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn pki() -> Pki {
    let (ca, issuer) = new_ca("Segmenter Test CA");
    let server = new_leaf(
        &["localhost", "127.0.0.1"],
        "localhost",
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let client = new_leaf(
        &["erp.clients.test"],
        "erp",
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    );
    let (other_ca, other_issuer) = new_ca("Unrelated CA");
    let other_client = new_leaf(
        &["erp.clients.test"],
        "erp",
        ExtendedKeyUsagePurpose::ClientAuth,
        &other_issuer,
    );
    Pki {
        ca,
        server,
        client,
        other_ca,
        other_client,
    }
}

/// Starts a server with the PKI's server certificate; with `mtls`, client certificates of the
/// PKI's CA are required.
async fn start_tls(pki: &Pki, mtls: bool) -> TestServer {
    let ca = pki.ca.clone();
    let server = pki.server.clone();
    TestServer::start_with(move |config, dir: &Path| {
        config.tls.cert_file = Some(write_file(dir, "server.crt", &server.cert));
        config.tls.key_file = Some(write_file(dir, "server.key", &server.key));
        if mtls {
            config.tls.client_ca_file = Some(write_file(dir, "clients-ca.crt", &ca));
        }
    })
    .await
}

fn tls_endpoint(addr: SocketAddr, trusted_ca: &str, identity: Option<&Pair>) -> Endpoint {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(trusted_ca))
        .domain_name("localhost");
    if let Some(pair) = identity {
        tls = tls.identity(pair.identity());
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls)
        .expect("client TLS config")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
}

/// What a client on `endpoint` gets: the health status, or why it got none.
async fn probe(endpoint: Endpoint) -> Result<ServingStatus, String> {
    let channel: Channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("call: {:?}: {}", status.code(), status.message()))?;
    Ok(ServingStatus::try_from(answer.into_inner().status).expect("serving status"))
}

/// A client the server must refuse: it gets no answer. Where the refusal surfaces is up to the
/// client's TLS stack: a TLS 1.3 client finishes its side of the handshake before the server
/// checks the client certificate, so tonic reports the broken connection at the first call as
/// UNKNOWN "transport error" (UNAVAILABLE when it notices before sending); a plaintext client
/// sees the same when the server drops its HTTP/2 preface.
#[track_caller]
fn assert_refused(outcome: Result<ServingStatus, String>, who: &str) {
    match outcome {
        Ok(status) => panic!("{who} was served: {status:?}"),
        Err(why) => assert!(
            why.starts_with("connect:")
                || why == "call: Unknown: transport error"
                || why.starts_with("call: Unavailable"),
            "{who}: refused in an unexpected way: {why}"
        ),
    }
}

#[tokio::test]
async fn a_tls_server_serves_clients_that_trust_its_ca_and_only_over_tls() {
    let pki = pki();
    let t = start_tls(&pki, false).await;

    let trusting = tls_endpoint(t.addr, &pki.ca, None);
    assert_eq!(
        probe(trusting.clone()).await,
        Ok(ServingStatus::Serving),
        "a client trusting the CA"
    );
    t.put_customer("c-1").await;
    let classified = SegmentationServiceClient::new(trusting.connect().await.expect("connect"))
        .classify(classify_request("c-1"))
        .await
        .expect("Classify over TLS")
        .into_inner()
        .classification
        .expect("classification");
    assert!(classified.known);

    assert_refused(probe(plain_endpoint(t.addr)).await, "a plaintext client");
    // A client that trusts another CA refuses the server's certificate while connecting.
    let untrusting = probe(tls_endpoint(t.addr, &pki.other_ca, None)).await;
    let why = untrusting.expect_err("a client not trusting the server's CA must not connect");
    assert!(
        why.starts_with("connect:") && why.contains("UnknownIssuer"),
        "{why}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_mtls_server_serves_only_clients_with_a_certificate_of_its_ca() {
    let pki = pki();
    let t = start_tls(&pki, true).await;

    assert_eq!(
        probe(tls_endpoint(t.addr, &pki.ca, Some(&pki.client))).await,
        Ok(ServingStatus::Serving),
        "a client with a certificate of the CA"
    );
    assert_refused(
        probe(tls_endpoint(t.addr, &pki.ca, None)).await,
        "a client without a certificate",
    );
    assert_refused(
        probe(tls_endpoint(t.addr, &pki.ca, Some(&pki.other_client))).await,
        "a client with a certificate of another CA",
    );
    assert_refused(probe(plain_endpoint(t.addr)).await, "a plaintext client");

    // The refusals did not disturb the server.
    let channel = tls_endpoint(t.addr, &pki.ca, Some(&pki.client))
        .connect()
        .await
        .expect("connect with a client certificate");
    let mut seg = SegmentationServiceClient::new(channel);
    t.put_customer("c-1").await;
    seg.classify(classify_request("c-1"))
        .await
        .expect("Classify over mTLS");
    let unknown = seg
        .classify(classify_request(""))
        .await
        .expect_err("an empty reference is refused by the service, not the transport");
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown:?}");
    t.shutdown().await;
}
