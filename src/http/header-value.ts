// One value of a request or response header that Node may hand over as a list (a repeated header): the first.
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
