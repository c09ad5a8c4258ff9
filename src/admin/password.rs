//! Admin password rules, shared by the CLI and the setup page.

pub const MIN_LEN: usize = 10;

pub fn validate(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!(
            "the password must have at least {MIN_LEN} characters"
        ));
    }
    if password.len() > 1024 {
        return Err("the password is too long (1024 bytes at most)".into());
    }
    Ok(())
}
