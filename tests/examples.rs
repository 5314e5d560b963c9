//! The programs in examples/ run as tests, so they cannot rot.

#[path = "../examples/issue_a_tree.rs"]
#[allow(dead_code)]
mod issue_a_tree;

#[path = "../examples/sign_a_request.rs"]
#[allow(dead_code)]
mod sign_a_request;

#[test]
fn issue_a_tree_runs() {
    issue_a_tree::main().expect("the example runs");
}

#[test]
fn sign_a_request_runs() {
    sign_a_request::main().expect("the example runs");
}
