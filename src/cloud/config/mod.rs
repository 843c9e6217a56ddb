//! Where saved cloud accounts live, read and written as the clouds' own
//! tools do: kamaki's configuration file for Synnefo, `clouds.yaml` for
//! OpenStack.

pub mod clouds_yaml;
pub mod kamakirc;
