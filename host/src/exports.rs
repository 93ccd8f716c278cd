//! The component's `admin` and `intake` exports as the host calls them: each in its lane
//! (operator commands and the scheduler in the background lane, bearer checks in the auth
//! lane under the tenant id they claim, webhooks under their store id) and under its
//! deadline. Tool calls (`tools`) are in [`crate::runtime`] with the sandbox itself.

use std::time::Duration;

use wasmtime::Store;

use crate::admission::{Lane, Ticket};
use crate::bindings::PluginCore;
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
