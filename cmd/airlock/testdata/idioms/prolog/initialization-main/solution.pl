:- initialization(main).

main :-
    read_term(user_input, N, []),
    numlist(1, N, Is),
    foldl(add_next, Is, 0, Sum),
    writeln(Sum),
    halt.

add_next(_, Acc0, Acc) :-
    read_term(user_input, X, []),
    Acc is Acc0 + X.
