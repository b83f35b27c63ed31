//! Administration: every administrative act as one function, the rule plus its audit record
//! ([`acts`]), shared by the JSON API and the console; what administrators write into and
//! read from room documents — city notices and alerts, care-plan imports, room activity
//! ([`city_documents`]); every `/v1/admin/…` route ([`routes`]); and the city's admin
//! console in the browser ([`console`]).

pub mod acts;
pub mod city_documents;
pub mod console;
pub mod routes;
