use cachex_runtime::retry;

#[derive(Debug)]
struct AppError;

struct Request {
    id: u64,
}

#[retry]
async fn send(request: Request) -> Result<u64, AppError> {
    Ok(request.id)
}

fn main() {
    let _ = send(Request { id: 1 });
}
