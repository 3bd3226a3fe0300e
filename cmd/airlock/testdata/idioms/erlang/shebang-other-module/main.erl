#!/usr/bin/env escript
%% -*- erlang -*-
%%! -smp enable
-module(solution).
-export([main/1]).

main(_) ->
    {ok, [N]} = io:fread("", "~d"),
    io:format("~w~n", [sum(N, 0)]).

sum(0, Acc) -> Acc;
sum(K, Acc) ->
    {ok, [X]} = io:fread("", "~d"),
    sum(K - 1, Acc + X).
