//! The web front end: a Yew app that steps through a lesson forward and
//! back, rendering the simulated machine at each event as DOM.
//!
//! State lives in one reducer ([`app::AppState`] over [`app::Action`]);
//! components under [`components`] render parts of it.

#![allow(missing_debug_implementations)] // Yew props hold dispatchers and Rc<Loaded>

pub mod app;
pub mod components;
pub mod engine;
pub mod loader;
pub mod narrator;
pub mod url;

use wasm_bindgen::prelude::*;

/// Shows a message in the page when something panics, so a student never
/// sees a blank page; the details go to the console. Set through Yew, which
/// otherwise replaces any hook with its own when the app is rendered.
fn install_panic_hook() {
    yew::set_custom_panic_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("panic: {info}").into());
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            if let (Ok(div), Some(body)) = (doc.create_element("div"), doc.body()) {
                div.set_class_name("crash");
                div.set_attribute("role", "alert").ok();
                div.set_text_content(Some(
                    "Something went wrong inside the simulator. Reload the page to start again; the details are in the browser console.",
                ));
                body.prepend_with_node_1(&div).ok();
            }
        }
    }));
}

/// Entry point: mounts the app on `#app`.
#[wasm_bindgen(start)]
pub fn start() {
    install_panic_hook();
    let doc = web_sys::window().and_then(|w| w.document());
    if let Some(root) = doc.and_then(|d| d.get_element_by_id("app")) {
        yew::Renderer::<app::App>::with_root(root).render();
    }
}
