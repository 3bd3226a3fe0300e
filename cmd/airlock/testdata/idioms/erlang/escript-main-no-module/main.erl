main(_) ->
    {ok, [N]} = io:fread("", "~d"),
    Xs = [begin {ok, [X]} = io:fread("", "~d"), X end || _ <- lists:seq(1, N)],
    io:format("~B~n", [lists:sum(Xs)]).
