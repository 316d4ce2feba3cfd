use cachex_runtime::cached;

#[cached]
async fn generic<T: Clone>(value: T) -> T {
    value
}

#[cached(ttl = "1m")]
async fn impl_arg(value: impl ToString) -> String {
    value.to_string()
}

#[cached]
async fn const_generic<const N: usize>() -> usize {
    N
}

fn main() {
    let _ = generic(1);
    let _ = impl_arg(1);
    let _ = const_generic::<3>();
}
