//! The seam between one node and the rest of a cluster (../shared/DESIGN.md "Cluster"):
//! a [`Registry`] saying which node holds which session, and a [`Bus`] carrying stanzas to
//! another node. [`LocalCluster`] is the single-node implementation; a NATS one comes later
//! without changes to session code.

use std::sync::Arc;

use async_trait::async_trait;
use jid::{BareJid, FullJid};
use tokio::sync::mpsc;

/// A node's identity within the cluster.
pub type NodeId = Arc<str>;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("node {0} is not reachable")]
    Unreachable(String),
    #[error("cluster backend: {0}")]
    Backend(String),
}

/// A stanza travelling between nodes, addressed to a JID the receiving node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Full or bare JID the stanza is for.
    pub to: String,
    /// The serialized stanza.
    pub stanza: String,
}

/// Where sessions live.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// This node now holds `jid`.
    async fn register(&self, jid: &FullJid) -> Result<(), ClusterError>;
    /// This node no longer holds `jid`.
    async fn unregister(&self, jid: &FullJid) -> Result<(), ClusterError>;
    /// Sessions of `bare` held by other nodes.
    async fn remote_sessions(&self, bare: &BareJid) -> Result<Vec<(FullJid, NodeId)>, ClusterError>;
}

/// Carries stanzas to other nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> NodeId;
    /// Send an envelope to `node`.
    async fn publish(&self, node: &NodeId, env: Envelope) -> Result<(), ClusterError>;
}

/// A cluster of one: every session is local and there is nobody to publish to.
pub struct LocalCluster {
    node: NodeId,
    /// Envelopes "published" to this node itself are looped back here.
    inbox: mpsc::UnboundedSender<Envelope>,
}

impl LocalCluster {
    /// A single node named `node`; returns the receiver of envelopes addressed to it.
    pub fn new(node: &str) -> (Arc<Self>, mpsc::UnboundedReceiver<Envelope>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Self { node: Arc::from(node), inbox: tx }), rx)
    }
}

#[async_trait]
impl Registry for LocalCluster {
    async fn register(&self, _jid: &FullJid) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn unregister(&self, _jid: &FullJid) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn remote_sessions(&self, _bare: &BareJid) -> Result<Vec<(FullJid, NodeId)>, ClusterError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Bus for LocalCluster {
    fn node_id(&self) -> NodeId {
        self.node.clone()
    }

    async fn publish(&self, node: &NodeId, env: Envelope) -> Result<(), ClusterError> {
        if *node != self.node {
            return Err(ClusterError::Unreachable(node.to_string()));
        }
        self.inbox.send(env).map_err(|e| ClusterError::Backend(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_cluster_has_no_remote_sessions_and_loops_back() {
        let (c, mut rx) = LocalCluster::new("n1");
        let bare = BareJid::new("a@example.com").expect("jid");
        assert!(c.remote_sessions(&bare).await.expect("ok").is_empty());
        let env = Envelope { to: "a@example.com".into(), stanza: "<message/>".into() };
        c.publish(&c.node_id(), env.clone()).await.expect("self publish");
        assert_eq!(rx.recv().await, Some(env));
        assert!(c.publish(&Arc::from("n2"), Envelope { to: String::new(), stanza: String::new() }).await.is_err());
    }
}
