//! A well-formed WebAssembly component that implements some other world. The host must refuse
//! to load it as a connector, with an error naming what is missing.

wit_bindgen::generate!({
    inline: "
        package test:other;

        world other {
            /// Says hello; exists only to make this a component of another world.
            export hello: func() -> string;
        }
    ",
    world: "test:other/other",
});

struct Other;

impl Guest for Other {
    fn hello() -> String {
        "hello".into()
    }
}

export!(Other);
