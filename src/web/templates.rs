//! Server-rendered pages. Templates are compiled into the binary (no files to
//! deploy) and auto-escaped as HTML.

use minijinja::Environment;
use serde::Serialize;

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        let sources: &[(&str, &str)] = &[
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("home.html", include_str!("../../templates/home.html")),
            ("recover.html", include_str!("../../templates/recover.html")),
            ("message.html", include_str!("../../templates/message.html")),
            ("console.html", include_str!("../../templates/console.html")),
        ];
        for (name, source) in sources {
            // The templates ship inside the binary and are covered by tests;
            // a syntax error is a build defect, reported on first render.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        Templates { env }
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}
