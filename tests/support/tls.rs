//! Certificates for the TLS tests, made in the test with `rcgen` (no openssl CLI needed): a
//! private CA, a server certificate it signs for `127.0.0.1` and `localhost`, and a client
//! certificate it signs for mutual TLS.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM files of one private CA and the certificates it signed, written into a directory.
pub struct TlsFiles {
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The server's certificate and key (PEM), valid for `127.0.0.1` and `localhost`.
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// A client certificate and key (PEM) that the CA signed, for mutual TLS.
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// Where the server's files are: `ca.crt`, `server.crt`, `server.key`.
    pub dir: PathBuf,
}

impl TlsFiles {
    /// A fresh CA with its server and client certificates, the server's files written to `dir`.
    pub fn generate(dir: &Path, ca_name: &str) -> TlsFiles {
        let (ca_pem, issuer) = ca(ca_name);

        let server_key = KeyPair::generate().expect("server key");
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "cachex test server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let server_cert = server.signed_by(&server_key, &issuer).expect("sign server");

        let client_key = KeyPair::generate().expect("client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client
            .distinguished_name
            .push(DnType::CommonName, "cachex test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let client_cert = client.signed_by(&client_key, &issuer).expect("sign client");

        std::fs::create_dir_all(dir).expect("create the TLS dir");
        let files = TlsFiles {
            ca_pem,
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            dir: dir.to_owned(),
        };
        std::fs::write(files.ca_path(), &files.ca_pem).expect("write ca.crt");
        std::fs::write(files.dir.join("server.crt"), &files.server_cert_pem).expect("write cert");
        std::fs::write(files.dir.join("server.key"), &files.server_key_pem).expect("write key");
        files
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// Another CA's certificate (PEM), unrelated to any server: trusting it alone must fail.
pub fn unrelated_ca_pem() -> String {
    ca("cachex unrelated CA").0
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (cert.pem(), Issuer::new(params, key))
}
