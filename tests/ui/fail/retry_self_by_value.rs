use cachex_runtime::retry;

#[derive(Debug)]
struct AppError;

struct Job;

impl Job {
    #[retry]
    async fn run(self) -> Result<(), AppError> {
        Ok(())
    }
}

fn main() {
    let _ = Job.run();
}
