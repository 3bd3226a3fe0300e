#include <algorithm>
#include <iostream>
#include <iterator>
#include <numeric>
#include <vector>

int main() {
    int n = 0;
    std::cin >> n;
    std::vector<long> values;
    std::copy_n(std::istream_iterator<long>(std::cin), n, std::back_inserter(values));
    std::cout << std::reduce(values.begin(), values.end(), 0L) << "\n";
    return 0;
}
