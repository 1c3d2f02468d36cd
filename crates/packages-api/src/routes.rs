//! Route tables: each route the server registers is written once, in a [`route_table!`],
//! which both registers it with actix and lists it, so what the server answers can be
//! compared with what `GET /api/openapi.json` documents. Package formats dispatch their own
//! routes below `/api/packages` and list them in [`crate::formats::Format::routes`].

/// Declares routes once: `const $list: &[(&str, &str)]` of (lower-case method, path) pairs
/// and `fn $register(&mut ServiceConfig)` that registers each path as a resource with its
/// methods, in the order written (which matters where paths overlap).
macro_rules! route_table {
    ($list:ident, $register:ident;
     $($path:literal => [$($method:ident => $handler:path),+ $(,)?]),* $(,)?) => {
        /// Every (method, path) pair of the table, in registration order.
        pub const $list: &[(&str, &str)] = &[$($((stringify!($method), $path),)+)*];

        /// Registers the table's routes.
        pub fn $register(cfg: &mut actix_web::web::ServiceConfig) {
            $(
                cfg.service(
                    actix_web::web::resource($path)
                        $(.route(actix_web::web::$method().to($handler)))+
                );
            )*
        }
    };
}

pub(crate) use route_table;

/// Every (method, path template) the server answers outside the web interface: the
/// top-level routes, `/api/v1` and each registered format's routes. Methods are upper case.
pub fn registered(formats: &crate::Formats) -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = crate::TOP_ROUTES
        .iter()
        .map(|(method, path)| (method.to_uppercase(), (*path).to_owned()))
        .collect();
    routes.extend(
        crate::v1::ROUTES
            .iter()
            .map(|(method, path)| (method.to_uppercase(), format!("/api/v1{path}"))),
    );
    for format in formats.iter() {
        for route in format.routes() {
            for method in route.methods {
                routes.push((method.as_str().to_owned(), route.template.to_owned()));
            }
        }
    }
    routes
}
