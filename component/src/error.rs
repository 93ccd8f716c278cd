//! Tool errors: a stable code callers branch on, a message, structured details.

use serde_json::{Value, json};

/// Stable error codes. The string form (`as_str`) is the contract; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Arguments do not match the tool's input schema or its rules.
    InvalidArgument,
    /// The component is missing a setting it needs (e.g. store credentials).
    NotConfigured,
    OrderNotFound,
    ProductNotFound,
    /// OrderDesk refused the store id / API key (401 or 403).
    OdApi401,
    /// OrderDesk kept answering 429 or asked for a longer wait than we allow.
    OdApi429,
    /// OrderDesk kept failing with 5xx.
    OdApi5xx,
    /// Any other OrderDesk refusal (4xx), with its message.
    OdApiError,
    /// OrderDesk answered something that is not its JSON envelope.
    OdApiBadResponse,
    /// No answer: connect failure, timeout, dropped connection.
    UpstreamUnreachable,
    /// The host's egress policy refused the destination.
    HttpRequestDenied,
    /// The call needs a tenant: bind one with `tenant_use_master_key` (or a bearer key).
    AuthRequired,
    TenantNotFound,
    /// No store matches, or none was given and there is no default.
    StoreNotFound,
    /// A JSON Patch operation failed; details name the operation index.
    InvalidMutation,
    /// Someone else kept changing the record; every retry met a newer version.
    ConcurrentUpdate,
    /// The tenant's tool-call budget is spent; details say when to retry.
    RateLimited,
    /// A write failed in a way that leaves its outcome unknown (timeout, dropped answer or
    /// 5xx after sending); details say how to check or retry safely.
    WriteOutcomeUnknown,
    /// A webhook delivery's signature is missing or matches no registration of its store.
    WebhookUnauthorized,
    /// Another instance is polling this store right now.
    SyncBusy,
    /// The caller cancelled the call; it stopped at a clean point.
    Cancelled,
    /// A background sync or webhook needs a store opted in with `sync_configure`.
    SyncNotConfigured,
    /// The state store (SQLite, Redis) did not answer or refused a write (down, disk
    /// full). Retryable unless the call had begun a write to OrderDesk.
    StateUnavailable,
    /// The tenant was disabled by the operator: its key and sessions are refused (an
    /// authentication failure, like `AUTH_REQUIRED`).
    TenantDisabled,
    /// The sign-up policy refuses new tenants of this kind.
    SignupClosed,
    /// A one-time link that is unknown or was already used.
    LinkInvalid,
    /// A one-time link past its lifetime.
    LinkExpired,
    /// Another tenant already has this e-mail address.
    EmailTaken,
    /// A bug or a host failure; the message says which.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::NotConfigured => "NOT_CONFIGURED",
            ErrorCode::OrderNotFound => "ORDER_NOT_FOUND",
            ErrorCode::ProductNotFound => "PRODUCT_NOT_FOUND",
            ErrorCode::OdApi401 => "OD_API_401",
            ErrorCode::OdApi429 => "OD_API_429",
            ErrorCode::OdApi5xx => "OD_API_5XX",
            ErrorCode::OdApiError => "OD_API_ERROR",
            ErrorCode::OdApiBadResponse => "OD_API_BAD_RESPONSE",
            ErrorCode::UpstreamUnreachable => "UPSTREAM_UNREACHABLE",
            ErrorCode::HttpRequestDenied => "HTTP_REQUEST_DENIED",
            ErrorCode::AuthRequired => "AUTH_REQUIRED",
            ErrorCode::TenantNotFound => "TENANT_NOT_FOUND",
            ErrorCode::StoreNotFound => "STORE_NOT_FOUND",
            ErrorCode::InvalidMutation => "INVALID_MUTATION",
            ErrorCode::ConcurrentUpdate => "CONCURRENT_UPDATE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::WriteOutcomeUnknown => "WRITE_OUTCOME_UNKNOWN",
            ErrorCode::WebhookUnauthorized => "WEBHOOK_UNAUTHORIZED",
            ErrorCode::SyncBusy => "SYNC_BUSY",
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::SyncNotConfigured => "SYNC_NOT_CONFIGURED",
            ErrorCode::StateUnavailable => "STATE_UNAVAILABLE",
            ErrorCode::TenantDisabled => "TENANT_DISABLED",
            ErrorCode::SignupClosed => "SIGNUP_CLOSED",
            ErrorCode::LinkInvalid => "LINK_INVALID",
            ErrorCode::LinkExpired => "LINK_EXPIRED",
            ErrorCode::EmailTaken => "EMAIL_TAKEN",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// Whether the same call may succeed later without changing anything.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::OdApi429
                | ErrorCode::OdApi5xx
                | ErrorCode::UpstreamUnreachable
                | ErrorCode::ConcurrentUpdate
                | ErrorCode::RateLimited
                | ErrorCode::SyncBusy
                | ErrorCode::StateUnavailable
        )
    }
}

/// A failed tool call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
    /// A JSON object with extra facts, or `Null`.
    pub details: Value,
    /// Whether the same call may be sent again as it is; starts as the code's default and
    /// is cleared wherever a write may already have happened.
    pub retryable: bool,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Null,
            retryable: code.retryable(),
        }
    }

    /// A write whose effect is unknown: it may or may not have happened, so the call must
    /// not simply be repeated. `details` says how to find out or retry safely.
    pub fn write_outcome_unknown(message: impl Into<String>, details: Value) -> Self {
        Self::new(ErrorCode::WriteOutcomeUnknown, message).with_details(details)
    }

    /// Mark the error as not safe to repeat (e.g. a write may have happened).
    pub fn not_retryable(mut self) -> Self {
        self.retryable = false;
        self
    }

    /// Add `key: value` to the details object (creating it).
    pub fn with_detail(mut self, key: &str, value: Value) -> Self {
        if !self.details.is_object() {
            self.details = Value::Object(Default::default());
        }
        self.details[key] = value;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn invalid_argument(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(ErrorCode::InvalidArgument, format!("{field}: {reason}"))
            .with_details(json!({ "field": field, "reason": reason }))
    }
}
