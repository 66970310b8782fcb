//! docs/link-format.md is the contract for other languages: its test vectors must be exactly
//! what this implementation produces and accepts. Plus property tests of the token codec.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oncelink::link::LinkMethod;
use oncelink::sealed::{self, Claims, KeySet};
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    name: String,
    secret_hex: String,
    kid: String,
    method: String,
    expires_at: u64,
    max_uses: u16,
    grace_seconds: u32,
    nonce_hex: String,
    filename: Option<String>,
    content_type: Option<String>,
    /// Absent in the version 1 vectors.
    #[serde(default)]
    confirm: bool,
    host: String,
    path: String,
    payload_hex: String,
    token: String,
}

fn vectors() -> Vec<Vector> {
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/link-format-vectors.json")).unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn claims_of(v: &Vector) -> Claims {
    Claims {
        kid: v.kid.clone(),
        method: if v.method == "GET" { LinkMethod::Get } else { LinkMethod::Put },
        expires_at: v.expires_at,
        max_uses: v.max_uses,
        grace_seconds: v.grace_seconds,
        nonce: hex::decode(&v.nonce_hex).unwrap().try_into().unwrap(),
        filename: v.filename.clone(),
        content_type: v.content_type.clone(),
        confirm: v.confirm,
    }
}

#[test]
fn the_documented_vectors_are_what_we_produce_and_accept() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/link-format.md")).unwrap();
    let vectors = vectors();
    assert!(vectors.len() >= 4);
    assert!(vectors.iter().any(|v| v.confirm), "a confirm (version 2) vector");
    for v in &vectors {
        let secret = hex::decode(&v.secret_hex).unwrap();
        let claims = claims_of(v);
        assert_eq!(hex::encode(claims.encode_payload()), v.payload_hex, "{}: payload", v.name);
        assert_eq!(sealed::seal(&claims, &secret, &v.host, &v.path).unwrap(), v.token, "{}: token", v.name);
        let keys = KeySet::from_secrets(&v.kid, [(v.kid.clone(), secret)]).unwrap();
        assert_eq!(sealed::open(&v.token, &keys, &v.host, &v.path).unwrap(), claims, "{}: open", v.name);
        assert!(doc.contains(&v.token), "{}: docs/link-format.md must show the token", v.name);
        assert!(doc.contains(&v.payload_hex), "{}: docs/link-format.md must show the payload", v.name);
        let version = if v.confirm { sealed::VERSION_FLAGS } else { sealed::VERSION };
        assert_eq!(hex::decode(&v.payload_hex).unwrap()[0], version, "{}: version byte", v.name);
    }
}

/// Version 2 is version 1 plus a flags byte, and only for links that have a flag: a link without
/// one has exactly one encoding (version 1), and no unknown flag is accepted.
#[test]
fn version_2_carries_flags_and_only_flags() {
    let v1 = vectors().into_iter().find(|v| v.name == "one-time GET").unwrap();
    let secret = hex::decode(&v1.secret_hex).unwrap();
    let keys = KeySet::from_secrets(&v1.kid, [(v1.kid.clone(), secret.clone())]).unwrap();
    let seal_payload = |payload: &[u8]| {
        // The MAC as the issuer would compute it over these exact bytes (a forger with the key).
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
        for part in [sealed::MAC_CONTEXT, v1.host.as_bytes(), v1.path.as_bytes(), payload] {
            mac.update(&(part.len() as u16).to_be_bytes());
            mac.update(part);
        }
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    };
    let v1_payload = hex::decode(&v1.payload_hex).unwrap();
    assert_eq!(sealed::open(&seal_payload(&v1_payload), &keys, &v1.host, &v1.path).unwrap(), claims_of(&v1));
    let as_v2 = |flags: &[u8]| {
        let mut p = v1_payload.clone();
        p[0] = sealed::VERSION_FLAGS;
        p.extend_from_slice(flags);
        seal_payload(&p)
    };
    let confirm = sealed::open(&as_v2(&[sealed::FLAG_CONFIRM]), &keys, &v1.host, &v1.path).unwrap();
    assert_eq!(confirm, Claims { confirm: true, ..claims_of(&v1) });
    for (flags, why) in [
        (&[][..], "no flags byte"),
        (&[0][..], "no flag set"),
        (&[0x02][..], "unknown flag"),
        (&[0x81][..], "unknown flag"),
        (&[1, 0][..], "trailing"),
    ] {
        assert!(sealed::open(&as_v2(flags), &keys, &v1.host, &v1.path).is_err(), "{why}: {flags:?}");
    }
    // A version 1 payload with a flags byte is a trailing byte.
    let mut long = v1_payload.clone();
    long.push(sealed::FLAG_CONFIRM);
    assert_eq!(sealed::open(&seal_payload(&long), &keys, &v1.host, &v1.path), Err(sealed::TokenError::Length));
    // An upload has no page to confirm on.
    let put = Claims { method: LinkMethod::Put, confirm: true, ..claims_of(&v1) };
    assert_eq!(sealed::seal(&put, &secret, &v1.host, &v1.path), Err(sealed::TokenError::Field));
}

fn arb_claims() -> impl Strategy<Value = Claims> {
    (
        "[A-Za-z0-9._-]{1,32}",
        any::<bool>(),
        0u64..=253_402_300_799,
        1u16..=1000,
        0u32..=86_400,
        any::<[u8; 16]>(),
        proptest::option::of("[a-zA-Z0-9 ._()-]{1,60}"),
        proptest::option::of("[a-z]{1,10}/[a-z0-9.+-]{1,20}"),
        any::<bool>(),
    )
        .prop_map(|(kid, get, expires_at, max_uses, grace_seconds, nonce, filename, content_type, confirm)| Claims {
            kid,
            method: if get { LinkMethod::Get } else { LinkMethod::Put },
            expires_at,
            max_uses,
            grace_seconds,
            nonce,
            filename: if get { filename } else { None },
            content_type: if get { None } else { content_type },
            confirm: get && confirm,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tokens_round_trip(claims in arb_claims(), secret in proptest::collection::vec(any::<u8>(), 32..64)) {
        let token = sealed::seal(&claims, &secret, "cdn.example.com", "/a/b").unwrap();
        let keys = KeySet::from_secrets(&claims.kid, [(claims.kid.clone(), secret)]).unwrap();
        prop_assert_eq!(sealed::open(&token, &keys, "cdn.example.com", "/a/b").unwrap(), claims);
    }

    /// Any change to the token's bytes, however small, is rejected.
    #[test]
    fn any_byte_mutation_is_rejected(claims in arb_claims(), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let secret = vec![9u8; 32];
        let token = sealed::seal(&claims, &secret, "cdn.example.com", "/k").unwrap();
        let keys = KeySet::from_secrets(&claims.kid, [(claims.kid.clone(), secret)]).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        let mutated = URL_SAFE_NO_PAD.encode(&bytes);
        prop_assert!(sealed::open(&mutated, &keys, "cdn.example.com", "/k").is_err());
    }

    /// Any change to the token's text (one character replaced, removed or added) is rejected.
    #[test]
    fn any_text_mutation_is_rejected(claims in arb_claims(), index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_=.~+/-]", op in 0u8..3) {
        let secret = vec![9u8; 32];
        let token = sealed::seal(&claims, &secret, "cdn.example.com", "/k").unwrap();
        let keys = KeySet::from_secrets(&claims.kid, [(claims.kid.clone(), secret)]).unwrap();
        let mut chars: Vec<char> = token.chars().collect();
        let i = index.index(chars.len());
        let c = replacement.chars().next().unwrap();
        match op {
            0 => { prop_assume!(chars[i] != c); chars[i] = c; }
            1 => { chars.remove(i); }
            _ => { chars.insert(i, c); }
        }
        let mutated: String = chars.into_iter().collect();
        prop_assert!(sealed::open(&mutated, &keys, "cdn.example.com", "/k").is_err());
    }

    /// Decoding is canonical: whatever decodes re-encodes to the same text.
    #[test]
    fn decoding_is_canonical(text in "[A-Za-z0-9_-]{60,140}") {
        if let Ok((claims, mac)) = sealed::decode_unverified(&text) {
            let mut bytes = claims.encode_payload();
            bytes.extend_from_slice(&mac);
            prop_assert_eq!(URL_SAFE_NO_PAD.encode(bytes), text);
        }
    }
}

/// Prints vectors for docs/link-format.md (run with `-- --ignored --nocapture`).
#[test]
#[ignore]
fn print_vectors() {
    let cases = [
        (
            "one-time GET",
            "k1",
            true,
            1_795_000_000u64,
            1u16,
            0u32,
            "000102030405060708090a0b0c0d0e0f",
            None,
            None,
            "files.example.com",
            "/reports/2026/q3.pdf",
        ),
        (
            "3-use GET with grace and filename",
            "2026-11",
            true,
            1_795_003_600,
            3,
            30,
            "f0e1d2c3b4a5968778695a4b3c2d1e0f",
            Some("Q3 report (final).pdf"),
            None,
            "files.example.com",
            "/reports/2026/q3%20final.pdf",
        ),
        (
            "PUT with content type",
            "k1",
            false,
            1_795_000_600,
            1,
            0,
            "ffffffffffffffffffffffffffffffff",
            None,
            Some("image/png"),
            "127.0.0.1:8787",
            "/uploads/avatar.png",
        ),
    ];
    // The version 2 vector: a confirm link (the flags byte after the version 1 fields).
    let confirm_case = (
        "confirm GET with filename",
        "k1",
        true,
        1_795_007_200u64,
        1u16,
        0u32,
        "0f0e0d0c0b0a09080706050403020100",
        Some("Contract.pdf"),
        None::<&str>,
        "files.example.com",
        "/contracts/2026/signed.pdf",
    );
    let secret: Vec<u8> = (0u8..32).collect();
    let mut out = Vec::new();
    let cases = cases.into_iter().map(|c| (c, false)).chain([(confirm_case, true)]);
    for ((name, kid, get, expires_at, max_uses, grace, nonce, filename, content_type, host, path), confirm) in cases {
        let claims = Claims {
            kid: kid.into(),
            method: if get { LinkMethod::Get } else { LinkMethod::Put },
            expires_at,
            max_uses,
            grace_seconds: grace,
            nonce: hex::decode(nonce).unwrap().try_into().unwrap(),
            filename: filename.map(str::to_owned),
            content_type: content_type.map(str::to_owned),
            confirm,
        };
        let token = sealed::seal(&claims, &secret, host, path).unwrap();
        let mut vector = serde_json::json!({
            "name": name, "secret_hex": hex::encode(&secret), "kid": kid, "method": if get { "GET" } else { "PUT" },
            "expires_at": expires_at, "max_uses": max_uses, "grace_seconds": grace, "nonce_hex": nonce,
            "filename": filename, "content_type": content_type, "host": host, "path": path,
            "payload_hex": hex::encode(claims.encode_payload()), "token": token,
        });
        if confirm {
            vector["confirm"] = true.into();
        }
        out.push(vector);
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// Found by fuzzing: an expiry near u64::MAX overflowed time arithmetic at the edge. Such
/// tokens are now refused by the codec itself, signed or not.
#[test]
fn expiries_beyond_year_9999_are_refused() {
    let claims = Claims {
        kid: "k1".into(),
        method: LinkMethod::Get,
        expires_at: u64::MAX,
        max_uses: 1,
        grace_seconds: 0,
        nonce: [0; 16],
        filename: None,
        content_type: None,
        confirm: false,
    };
    assert_eq!(sealed::seal(&claims, &[1; 32], "h", "/k"), Err(sealed::TokenError::Field));
    let mut bytes = claims.encode_payload();
    bytes.extend_from_slice(&[0; 32]);
    assert_eq!(sealed::decode_unverified(&URL_SAFE_NO_PAD.encode(bytes)).unwrap_err(), sealed::TokenError::Field);
}
