//! Accounts, sessions and tokens end to end over HTTP against the local
//! stack: the whole login flow, revocation seen on the very next request,
//! the refresh cookie, sessions, and every documented error.

use serde_json::{Value, json};

use crate::helpers::{Api, unique_email};

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn the_whole_flow_register_login_refresh_logout() {
    let api = Api::new();
    let email = unique_email();

    let (status, user) = api.post(
        "/auth/register",
        None,
        &json!({"email": email, "password": PASSWORD, "name": "Ada"}),
    );
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], email);
    assert_eq!(user["name"], "Ada");
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));

    let tokens = api.login(&email, PASSWORD);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    let (status, me) = api.get("/me", Some(&access));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], user["user_id"]);

    let (status, rotated) = api.post("/auth/refresh", None, &json!({"refresh_token": refresh}));
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(
        rotated["refresh_token"], tokens["refresh_token"],
        "refresh rotates"
    );
    assert_eq!(rotated["session_id"], tokens["session_id"]);
    let access2 = rotated["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.get("/me", Some(&access2)).0, 200);

    assert_eq!(api.post_empty("/auth/logout", Some(&access2)).0, 204);
    // Refused on the very next request, not when the token expires.
    let (status, problem) = api.get("/me", Some(&access2));
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "invalid_token");
    assert_eq!(
        api.get("/me", Some(&access)).0,
        401,
        "every token of the session"
    );
    let (status, problem) = api.post("/auth/refresh", None, &json!({"refresh_token": refresh}));
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "invalid_refresh_token");
    let (status, _) = api.post(
        "/auth/refresh",
        None,
        &json!({"refresh_token": rotated["refresh_token"]}),
    );
    assert_eq!(status, 401, "the session is over");
}

#[test]
fn registration_errors_are_documented() {
    let api = Api::new();
    let email = unique_email();
    assert_eq!(api.register(&email), 201);
    let (status, problem) = api.post(
        "/auth/register",
        None,
        &json!({"email": email.to_uppercase(), "password": PASSWORD}),
    );
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("email_taken")),
        "emails are normalised"
    );

    for (body, code) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "invalid_email",
        ),
        (
            json!({"email": unique_email(), "password": "elevenchars"}),
            "invalid_password",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "admin": true}),
            "invalid_body",
        ),
        (json!({"email": unique_email()}), "invalid_body"),
        (json!({"email": 5, "password": PASSWORD}), "invalid_body"),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": "x".repeat(101)}),
            "invalid_name",
        ),
    ] {
        let (status, problem) = api.post("/auth/register", None, &body);
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
        assert_eq!(problem["status"], 400);
        let text = problem.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains("elevenchars"),
            "never echo a password: {text}"
        );
    }
}

#[test]
fn two_parallel_registrations_of_one_email_give_one_201_and_one_409() {
    let email = unique_email();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| Api::new().register(&email)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, vec![201, 409], "{statuses:?}");
}

#[test]
fn login_gives_one_answer_for_unknown_email_and_wrong_password() {
    let api = Api::new();
    let email = unique_email();
    api.register(&email);
    let (status, wrong) = api.post(
        "/auth/login",
        None,
        &json!({"email": email, "password": "wrong password!"}),
    );
    assert_eq!(status, 401);
    let (status, unknown) = api.post(
        "/auth/login",
        None,
        &json!({"email": unique_email(), "password": PASSWORD}),
    );
    assert_eq!(status, 401);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["code"], "invalid_credentials");
}

/// A new user's login: its first `Set-Cookie`, the refresh cookie.
fn login_cookie(api: &Api) -> String {
    let email = unique_email();
    api.register(&email);
    let credentials = json!({"email": email, "password": PASSWORD}).to_string();
    let reply = api.send("POST", "/auth/login", None, &[], Some(&credentials));
    reply.header("set-cookie").unwrap().to_string()
}

#[test]
fn login_sets_a_host_only_refresh_cookie_that_refresh_accepts() {
    let api = Api::new();
    let cookie = login_cookie(&api);
    assert!(cookie.starts_with("__Host-refresh_token="), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Domain="),
        "__Host- cookies carry no Domain"
    );
    let pair = cookie.split(';').next().unwrap();
    let refreshed = api.refresh_with_cookie(pair);
    assert_eq!(refreshed.0, 200, "{}", refreshed.1);
}

#[test]
fn the_refresh_cookie_works_only_from_the_apis_own_origin_or_an_allowed_one() {
    let api = Api::new();
    let cookie = login_cookie(&api);
    let pair = cookie.split(';').next().unwrap();
    // A sibling subdomain is the same site: SameSite=Strict sends the cookie.
    for refused in [
        vec![],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "https://evil.example.com"),
        ],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://attacker.test"),
        ],
    ] {
        let (status, body) = api.refresh_with_cookie_from(pair, &refused);
        assert_eq!(status, 403, "{refused:?}: {body}");
        assert_eq!(body["code"], "origin_not_allowed");
    }
    // Refused before anything was read: the token is still good.
    let (status, body) = api.refresh_with_cookie(pair);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn logout_all_ends_every_session() {
    let api = Api::new();
    let email = unique_email();
    api.register(&email);
    let first = api.login(&email, PASSWORD);
    let second = api.login(&email, PASSWORD);
    let token = |t: &Value| t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        api.post_empty("/auth/logout-all", Some(&token(&first))).0,
        204
    );
    for tokens in [&first, &second] {
        assert_eq!(api.get("/me", Some(&token(tokens))).0, 401);
        let (status, _) = api.post(
            "/auth/refresh",
            None,
            &json!({"refresh_token": tokens["refresh_token"]}),
        );
        assert_eq!(status, 401);
    }
    // A new login works again.
    let third = api.login(&email, PASSWORD);
    assert_eq!(api.get("/me", Some(&token(&third))).0, 200);
}

#[test]
fn sessions_are_listed_and_ended_one_by_one() {
    let api = Api::new();
    let email = unique_email();
    api.register(&email);
    let first = api.login(&email, PASSWORD);
    let second = api.login(&email, PASSWORD);
    let access = first["access_token"].as_str().unwrap();
    let (status, list) = api.get("/auth/sessions", Some(access));
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], first["session_id"]);
    for field in [
        "created_at",
        "last_seen_at",
        "expires_at",
        "user_agent",
        "ip",
    ] {
        assert!(sessions[0].get(field).is_some(), "{field}");
    }

    let other = second["session_id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/auth/sessions/{other}"), Some(access))
            .0,
        204
    );
    assert_eq!(
        api.get("/me", Some(second["access_token"].as_str().unwrap()))
            .0,
        401
    );
    assert_eq!(
        api.delete(&format!("/auth/sessions/{other}"), Some(access))
            .0,
        404
    );

    // Someone else's session is 404, and stays alive.
    let stranger = unique_email();
    api.register(&stranger);
    let theirs = api.login(&stranger, PASSWORD);
    let (status, problem) = api.delete(
        &format!("/auth/sessions/{}", theirs["session_id"].as_str().unwrap()),
        Some(access),
    );
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    assert_eq!(
        api.get("/me", Some(theirs["access_token"].as_str().unwrap()))
            .0,
        200
    );
    assert_eq!(api.delete("/auth/sessions/not-an-id", Some(access)).0, 404);
}

#[test]
fn no_response_or_log_line_contains_a_password_token_or_key() {
    let api = Api::new();
    let email = unique_email();
    let password = format!("secret-{}", shared::ids::new_id());
    let mut responses = Vec::new();
    let (status, body) = api.post(
        "/auth/register",
        None,
        &json!({"email": email, "password": password}),
    );
    assert_eq!(status, 201);
    responses.push(body);
    responses.push(
        api.post(
            "/auth/login",
            None,
            &json!({"email": email, "password": format!("{password}x")}),
        )
        .1,
    );
    responses.push(
        api.post(
            "/auth/register",
            None,
            &json!({"email": email, "password": password}),
        )
        .1,
    );
    let tokens = api.login(&email, &password);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (_, rotated) = api.post("/auth/refresh", None, &json!({"refresh_token": refresh}));
    responses.push(api.get("/me", Some(&access)).1);
    // Inside the grace, the token just rotated away answers with its
    // successor again (the client lost that answer): by design, not an echo.
    let (_, replayed) = api.post("/auth/refresh", None, &json!({"refresh_token": refresh}));
    assert_eq!(replayed["refresh_token"], rotated["refresh_token"]);
    responses.push(api.get("/me", Some(&format!("{access}x"))).1);
    responses.push(
        api.post_empty(
            "/auth/logout",
            Some(rotated["access_token"].as_str().unwrap()),
        )
        .1,
    );

    let secrets = [
        password.clone(),
        access.clone(),
        refresh.clone(),
        rotated["access_token"].as_str().unwrap().to_string(),
        rotated["refresh_token"].as_str().unwrap().to_string(),
    ];
    for response in &responses {
        let text = response.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a response echoes a secret: {text}"
            );
        }
    }

    let stack = xtask::stack::StackInfo::from_env().unwrap();
    let log = std::fs::read_to_string(stack.logs_dir.join("functions.log")).unwrap();
    assert!(
        log.contains("session opened"),
        "the functions' logs are captured"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a log line contains a password or token"
        );
    }
    assert!(
        !log.contains("private_key_pkcs8"),
        "a log line contains the signing key"
    );
}

#[test]
fn authenticated_routes_refuse_missing_and_garbage_tokens() {
    let api = Api::new();
    for (method, path) in [
        ("POST", "/auth/logout"),
        ("POST", "/auth/logout-all"),
        ("DELETE", "/auth/sessions/AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let (status, problem) = match method {
            "POST" => api.post_empty(path, None),
            _ => api.delete(path, None),
        };
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("invalid_token")),
            "{method} {path}"
        );
    }
    for path in ["/me", "/auth/sessions"] {
        for token in [None, Some("garbage"), Some("a.b.c")] {
            let reply = api.send("GET", path, token, &[], None);
            assert_eq!(reply.status, 401, "{path} {token:?}");
            assert_eq!(
                reply.header("www-authenticate"),
                Some(r#"Bearer error="invalid_token""#)
            );
        }
    }
}

#[test]
fn the_jwks_has_public_keys_only_and_is_cacheable() {
    let api = Api::new();
    let reply = api.send("GET", "/.well-known/jwks.json", None, &[], None);
    assert_eq!(reply.status, 200);
    assert!(reply.header("cache-control").unwrap().contains("max-age"));
    let (_, jwks) = api.get("/.well-known/jwks.json", None);
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert!(key.get("d").is_none(), "never a private part");
        assert!(key["kid"].is_string());
    }
}
