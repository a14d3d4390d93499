//! Per-request facts shared between the outer middleware and the code that learns them later
//! (the auth extractor learns the user id).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::domain::ids::UserId;

#[derive(Clone)]
pub struct RequestContext {
    pub request_id: Arc<str>,
    pub client_ip: IpAddr,
    user: Arc<OnceLock<UserId>>,
}

impl RequestContext {
    pub fn new(request_id: Arc<str>, client_ip: IpAddr) -> RequestContext {
        RequestContext {
            request_id,
            client_ip,
            user: Arc::default(),
        }
    }

    pub fn set_user(&self, user: UserId) {
        let _ = self.user.set(user);
    }

    pub fn user(&self) -> Option<UserId> {
        self.user.get().copied()
    }
}
