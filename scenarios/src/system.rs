//! The system images a lesson's machine can boot with (`system = "debian-12"`).
//!
//! Native builds (the command line, the tests) carry the image. The page's
//! engine module does not: the page fetches `system/debian-12.sysimg` only
//! when a program needs it and hands it over with [`provide`].

use sim_core::linux::sysimage::SystemImage;
use std::sync::{Arc, Mutex};

/// The one image there is: Debian 12's dynamic loader and C library.
pub const DEBIAN_12: &str = "debian-12";

/// Where the page serves the image, relative to the site.
pub const URL: &str = "system/debian-12.sysimg";

static PROVIDED: Mutex<Option<Arc<SystemImage>>> = Mutex::new(None);

#[cfg(not(target_arch = "wasm32"))]
const EMBEDDED: &[u8] = include_bytes!("../../fixtures/system/debian-12.sysimg");

/// Hands the image's bytes to this module (the page, after fetching them).
pub fn provide(name: &str, bytes: &[u8]) -> Result<(), String> {
    if name != DEBIAN_12 {
        return Err(unknown(name));
    }
    let image = SystemImage::decode(bytes).map_err(|e| e.to_string())?;
    *PROVIDED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(image));
    Ok(())
}

/// The image called `name`.
pub fn get(name: &str) -> Result<Arc<SystemImage>, String> {
    if name != DEBIAN_12 {
        return Err(unknown(name));
    }
    #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
    let mut held = PROVIDED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(image) = held.as_ref() {
        return Ok(image.clone());
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let image = Arc::new(SystemImage::decode(EMBEDDED).map_err(|e| format!("the built-in system image: {e}"))?);
        *held = Some(image.clone());
        Ok(image)
    }
    #[cfg(target_arch = "wasm32")]
    Err(format!("the system image {name} has not been fetched (the page fetches {URL} for programs that need it)"))
}

fn unknown(name: &str) -> String {
    format!("there is no system image called {name:?}; the one there is: {DEBIAN_12}")
}
