//! The component's `admin` and `intake` exports as the host calls them: each in its lane
//! (operator commands and the scheduler in the background lane, bearer checks in the auth
//! lane under the tenant id they claim, webhooks under their store id) and under its
//! deadline. Tool calls (`tools`) are in [`crate::runtime`] with the sandbox itself.

use std::time::Duration;

use wasmtime::Store;

use crate::admission::{Lane, Ticket};
use crate::bindings::PluginCore;
use crate::bindings::exports::orderdesk::mcp::console::{
    LinkDecision, LinkOutcome, LinkPurpose, SignupPolicy, StoreOverview, TenantProfile, Trace,
    TraceFilter, TraceSummary,
};
use crate::bindings::exports::orderdesk::mcp::intake::{
    SyncTarget, WebhookDelivery, WebhookReceipt,
};
use crate::bindings::exports::orderdesk::mcp::tools::{TenantInfo, ToolError};
use crate::capability::CallHooks;
use crate::runtime::{CallState, Export, Runtime, SandboxError};

/// The longest a bearer check may take, queueing included.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

impl Runtime {
    /// An operator command (`orderdesk-mcp tenant …`) in the background lane.
    async fn admin<T>(
        &self,
        f: impl for<'a> FnOnce(&'a PluginCore, &'a mut Store<CallState>) -> Export<'a, T>,
    ) -> Result<T, SandboxError> {
        let deadline = self.deadline(self.call_timeout);
        self.run(self.plain("admin"), self.background("admin"), deadline, f)
            .await
    }

    /// `orderdesk:mcp/admin.tenant-create`.
    pub async fn tenant_create(
        &self,
        name: &str,
    ) -> Result<Result<(TenantInfo, String), ToolError>, SandboxError> {
        let name = name.to_string();
        self.admin(move |i, s| {
            Box::pin(async move { i.orderdesk_mcp_admin().call_tenant_create(s, &name).await })
        })
        .await
    }

    /// `orderdesk:mcp/admin.tenant-list`.
    pub async fn tenant_list(&self) -> Result<Result<Vec<TenantInfo>, ToolError>, SandboxError> {
        self.admin(|i, s| {
            Box::pin(async move { i.orderdesk_mcp_admin().call_tenant_list(s).await })
        })
        .await
    }

    /// `orderdesk:mcp/admin.tenant-delete`.
    pub async fn tenant_delete(&self, id: &str) -> Result<Result<(), ToolError>, SandboxError> {
        let id = id.to_string();
        self.admin(move |i, s| {
            Box::pin(async move { i.orderdesk_mcp_admin().call_tenant_delete(s, &id).await })
        })
        .await
    }

    /// `orderdesk:mcp/admin.tenant-rotate-key`.
    pub async fn tenant_rotate_key(
        &self,
        id: &str,
        current: &str,
    ) -> Result<Result<String, ToolError>, SandboxError> {
        let (id, current) = (id.to_string(), current.to_string());
        self.admin(move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_admin()
                    .call_tenant_rotate_key(s, &id, &current)
                    .await
            })
        })
        .await
    }

    /// `orderdesk:mcp/admin.tenant-authenticate`, in the auth lane under the tenant id the
    /// key claims (`claimed`), so bad bearers naming one tenant queue behind each other
    /// and never take the instances tool calls use.
    pub async fn tenant_authenticate(
        &self,
        master_key: &str,
        claimed: &str,
    ) -> Result<Result<TenantInfo, ToolError>, SandboxError> {
        let key = master_key.to_string();
        let timeout = self.call_timeout.min(AUTH_TIMEOUT);
        self.run(
            self.plain("auth"),
            Ticket::new(Lane::Auth, claimed, ""),
            self.deadline(timeout),
            move |i, s| {
                Box::pin(async move {
                    i.orderdesk_mcp_admin()
                        .call_tenant_authenticate(s, &key)
                        .await
                })
            },
        )
        .await
    }

    /// `orderdesk:mcp/admin.tenant-of-key`: the tenant a key names by its form (the
    /// component owns the format), in the auth lane under no tenant. `None` for a key of
    /// another form, and when the sandbox could not answer.
    pub async fn tenant_of_key(&self, master_key: &str) -> Option<String> {
        let key = master_key.to_string();
        let named = self
            .run(
                self.plain("auth"),
                Ticket::new(Lane::Auth, "", ""),
                self.deadline(self.call_timeout.min(AUTH_TIMEOUT)),
                move |i, s| {
                    Box::pin(
                        async move { i.orderdesk_mcp_admin().call_tenant_of_key(s, &key).await },
                    )
                },
            )
            .await;
        named.unwrap_or_else(|e| {
            tracing::warn!("reading the tenant of a key failed in the sandbox: {e}");
            None
        })
    }

    /// `orderdesk:mcp/intake.webhook-deliver`: one OrderDesk delivery, in the webhooks lane
    /// under its store id, under the call deadline.
    pub async fn webhook_deliver(
        &self,
        delivery: WebhookDelivery,
    ) -> Result<Result<WebhookReceipt, ToolError>, SandboxError> {
        let info = self.plain(&delivery.request_id);
        let ticket = Ticket::new(Lane::Webhooks, &delivery.store_id, "");
        self.run(
            info,
            ticket,
            self.deadline(self.call_timeout),
            move |i, s| {
                Box::pin(async move {
                    i.orderdesk_mcp_intake()
                        .call_webhook_deliver(s, &delivery)
                        .await
                })
            },
        )
        .await
    }

    /// `orderdesk:mcp/intake.sync-targets`: every store with polling sync on.
    pub async fn sync_targets(&self) -> Result<Result<Vec<SyncTarget>, ToolError>, SandboxError> {
        let deadline = self.deadline(self.call_timeout);
        self.run(
            self.plain("sync-targets"),
            self.background("scheduler"),
            deadline,
            |i, s| Box::pin(async move { i.orderdesk_mcp_intake().call_sync_targets(s).await }),
        )
        .await
    }

    /// `orderdesk:mcp/intake.sync-due`: the stores to poll now.
    pub async fn sync_due(&self) -> Result<Result<Vec<SyncTarget>, ToolError>, SandboxError> {
        let deadline = self.deadline(self.call_timeout);
        self.run(
            self.plain("sync-due"),
            self.background("scheduler"),
            deadline,
            |i, s| Box::pin(async move { i.orderdesk_mcp_intake().call_sync_due(s).await }),
        )
        .await
    }

    /// `orderdesk:mcp/intake.sync-run`: poll one store, in the background lane under its
    /// tenant and store, under the sync deadline (`sync_timeout_secs`) instead of the call
    /// deadline. The report is JSON text.
    pub async fn sync_run(
        &self,
        target: &SyncTarget,
        options_json: &str,
        request_id: &str,
        hooks: CallHooks,
    ) -> Result<Result<String, ToolError>, SandboxError> {
        let ticket = Ticket::new(Lane::Background, &target.tenant, &target.store_id);
        let target = target.clone();
        let (options, id) = (options_json.to_string(), request_id.to_string());
        self.run(
            self.info(request_id, hooks),
            ticket,
            self.deadline(self.sync_timeout),
            move |i, s| {
                Box::pin(async move {
                    i.orderdesk_mcp_intake()
                        .call_sync_run(s, &target, &options, &id)
                        .await
                })
            },
        )
        .await
    }
}

/// Whom a console export runs for; admission shares instances by it, so one tenant's (or
/// one stranger's) console use never takes what another needs.
#[derive(Debug, Clone, Copy)]
pub enum ConsoleFor<'a> {
    /// A signed-in tenant: the calls lane, under the tenant (with its tool calls).
    Tenant(&'a str),
    /// The operator: the background lane.
    Operator,
    /// Nobody signed in yet (sign-up, links): the auth lane, under the client's address.
    Anonymous(&'a str),
}

type Answer<T> = Result<Result<T, ToolError>, SandboxError>;

impl Runtime {
    /// One `orderdesk:mcp/console` export for `who`, under the call deadline.
    async fn console<T>(
        &self,
        who: ConsoleFor<'_>,
        f: impl for<'a> FnOnce(&'a PluginCore, &'a mut Store<CallState>) -> Export<'a, T>,
    ) -> Result<T, SandboxError> {
        let ticket = match who {
            ConsoleFor::Tenant(tenant) => Ticket::new(Lane::Calls, tenant, "console"),
            ConsoleFor::Operator => self.background("console"),
            ConsoleFor::Anonymous(address) => Ticket::new(Lane::Auth, address, "console"),
        };
        let timeout = match who {
            ConsoleFor::Anonymous(_) => self.call_timeout.min(AUTH_TIMEOUT),
            _ => self.call_timeout,
        };
        self.run(self.plain("console"), ticket, self.deadline(timeout), f)
            .await
    }

    pub async fn link_request(
        &self,
        who: ConsoleFor<'_>,
        purpose: LinkPurpose,
        email: &str,
        name: &str,
    ) -> Answer<LinkDecision> {
        let (email, name) = (email.to_string(), name.to_string());
        self.console(who, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_link_request(s, purpose, &email, &name)
                    .await
            })
        })
        .await
    }

    pub async fn link_redeem(&self, who: ConsoleFor<'_>, token: &str) -> Answer<LinkOutcome> {
        let token = token.to_string();
        self.console(who, move |i, s| {
            Box::pin(async move { i.orderdesk_mcp_console().call_link_redeem(s, &token).await })
        })
        .await
    }

    pub async fn signup_policy_get(&self, who: ConsoleFor<'_>) -> Answer<SignupPolicy> {
        self.console(who, |i, s| {
            Box::pin(async move { i.orderdesk_mcp_console().call_signup_policy_get(s).await })
        })
        .await
    }

    pub async fn signup_policy_set(&self, policy: SignupPolicy) -> Answer<()> {
        self.console(ConsoleFor::Operator, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_signup_policy_set(s, &policy)
                    .await
            })
        })
        .await
    }

    pub async fn tenant_profiles(&self) -> Answer<Vec<TenantProfile>> {
        self.console(ConsoleFor::Operator, |i, s| {
            Box::pin(async move { i.orderdesk_mcp_console().call_tenant_profiles(s).await })
        })
        .await
    }

    pub async fn tenant_profile(&self, who: ConsoleFor<'_>, id: &str) -> Answer<TenantProfile> {
        let id = id.to_string();
        self.console(who, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_tenant_profile_get(s, &id)
                    .await
            })
        })
        .await
    }

    pub async fn tenant_set_disabled(&self, id: &str, disabled: bool) -> Answer<()> {
        let id = id.to_string();
        self.console(ConsoleFor::Operator, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_tenant_set_disabled(s, &id, disabled)
                    .await
            })
        })
        .await
    }

    pub async fn tenant_set_email(&self, who: ConsoleFor<'_>, id: &str, email: &str) -> Answer<()> {
        let (id, email) = (id.to_string(), email.to_string());
        self.console(who, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_tenant_set_email(s, &id, &email)
                    .await
            })
        })
        .await
    }

    pub async fn stores_overview(&self, tenant: &str) -> Answer<Vec<StoreOverview>> {
        let id = tenant.to_string();
        self.console(ConsoleFor::Tenant(tenant), move |i, s| {
            Box::pin(async move { i.orderdesk_mcp_console().call_stores_overview(s, &id).await })
        })
        .await
    }

    pub async fn store_set_default(&self, tenant: &str, store: &str) -> Answer<()> {
        let (id, store) = (tenant.to_string(), store.to_string());
        self.console(ConsoleFor::Tenant(tenant), move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_store_set_default(s, &id, &store)
                    .await
            })
        })
        .await
    }

    pub async fn store_set_label(
        &self,
        tenant: &str,
        store: &str,
        label: Option<&str>,
    ) -> Answer<()> {
        let (id, store) = (tenant.to_string(), store.to_string());
        let label = label.map(str::to_string);
        self.console(ConsoleFor::Tenant(tenant), move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_store_set_label(s, &id, &store, label.as_deref())
                    .await
            })
        })
        .await
    }

    /// Traces of `tenant` (`None`: every tenant's, for the operator).
    pub async fn traces(
        &self,
        tenant: Option<&str>,
        filter: TraceFilter,
    ) -> Answer<Vec<TraceSummary>> {
        let id = tenant.map(str::to_string);
        let who = tenant.map_or(ConsoleFor::Operator, ConsoleFor::Tenant);
        self.console(who, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_traces(s, id.as_deref(), &filter)
                    .await
            })
        })
        .await
    }

    pub async fn trace(&self, tenant: Option<&str>, trace_id: &str) -> Answer<Option<Trace>> {
        let (id, trace_id) = (tenant.map(str::to_string), trace_id.to_string());
        let who = tenant.map_or(ConsoleFor::Operator, ConsoleFor::Tenant);
        self.console(who, move |i, s| {
            Box::pin(async move {
                i.orderdesk_mcp_console()
                    .call_trace_get(s, id.as_deref(), &trace_id)
                    .await
            })
        })
        .await
    }
}
