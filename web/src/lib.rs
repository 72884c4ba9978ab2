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

/// A lesson mounted inside a page's element (a `<memsim-lesson>`), until
/// [`Mounted::destroy`].
#[wasm_bindgen]
pub struct Mounted(Option<yew::AppHandle<app::App>>);

#[wasm_bindgen]
impl Mounted {
    /// Unmounts it (the element was removed, or its attributes changed).
    pub fn destroy(&mut self) {
        if let Some(h) = self.0.take() {
            h.destroy();
        }
    }
}

/// Mounts a lesson in `root` (inside a `<memsim-lesson>`'s shadow root),
/// with the attributes as a query string (`lesson=fork-cow&step=60`); the
/// element `host` gets its events and keys. Many can share a page.
#[wasm_bindgen]
pub fn mount(root: web_sys::Element, host: web_sys::Element, search: String) -> Mounted {
    let props = app::AppProps { search: Some(search), scope: Some(host) };
    Mounted(Some(yew::Renderer::<app::App>::with_root_and_props(root, props).render()))
}

/// Entry point: mounts the app on `#app`.
#[wasm_bindgen(start)]
pub fn start() {
    install_panic_hook();
    // Loaded by memsim.js for <memsim-lesson> elements: they mount themselves.
    if js_sys::Reflect::get(&js_sys::global(), &"memsimComponent".into()).map(|v| v.is_truthy()).unwrap_or(false) {
        return;
    }
    let doc = web_sys::window().and_then(|w| w.document());
    if let Some(root) = doc.and_then(|d| d.get_element_by_id("app")) {
        yew::Renderer::<app::App>::with_root(root).render();
    }
}
