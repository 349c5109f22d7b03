//! DATA-2: "Mesure d'audience", linked from every page's footer.

use askama::Template;
use askama_web::WebTemplate;
use kernel::web::PageContext;

#[derive(Template, WebTemplate)]
#[template(path = "audience.html")]
pub struct AudiencePage {
    ctx: PageContext,
}

pub async fn audience(ctx: PageContext) -> AudiencePage {
    AudiencePage { ctx }
}
